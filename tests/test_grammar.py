"""Action grammars from the table and from tools' JSON Schemas (llama.cpp's own converter after
our pre-pass): bounds, tool_choice, and llama.cpp parsing and enforcing them on the real model."""

from __future__ import annotations

import json

import pytest
from llmos.kernel.prompt import syscall_function
from llmos.syscalls.errno import SyscallError
from llmos.syscalls.grammar import Action, Function, action_grammar, parse_action, render_call
from llmos.syscalls.schema import ANY_JSON, CONTENT_CAP, STRING_CAP, bounded, check
from llmos.syscalls.table import TABLE

SYSCALLS = [syscall_function(TABLE[n]) for n in sorted(TABLE) if not n.startswith(("llm.", "tool.call"))]

NESTED = {  # nested objects, $defs/$ref, anyOf, enum/const, arrays of objects, free-form, untyped
    "type": "object",
    "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                       "required": ["sku", "qty"]}},
    "properties": {
        "customer": {"type": "object", "properties": {"name": {"type": "string"},
                                                      "tier": {"enum": ["gold", "silver"]}},
                     "required": ["name"]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1},
        "ship": {"anyOf": [{"const": "pickup"}, {"type": "object", "properties": {"city": {"type": "string"}},
                                                  "required": ["city"]}]},
        "meta": {"type": "object"},
        "note": {},
        "amount": {"type": "number"},
    },
    "required": ["customer", "items"],
}
ORDER = Function("shop.order", "Place an order.", NESTED)


def test_parse_action():
    assert parse_action(render_call("fs.read", {"path": "a"})) == Action("fs.read", {"path": "a"})
    assert parse_action("  Paris is the capital.\n") == Action(text="Paris is the capital.")
    for bad in ['<tool_call>[{"name": "x"', "<tool_call>[3]</tool_call>", '<tool_call>[{"name": 3}]</tool_call>']:
        with pytest.raises(ValueError):
            parse_action(bad)


def test_grammar_is_cached_and_follows_the_choice():
    fs = SYSCALLS[:3]
    assert action_grammar(fs) is action_grammar(fs)
    auto, req, none = (action_grammar(fs, c) for c in ("auto", "required", "none"))
    assert "root ::= call | reply" in auto and "root ::= call\n" in req and "root ::= reply\n" in none
    named = action_grammar(fs, fs[0].name)
    assert fs[0].name in named and fs[1].name not in named.split("call ::=")[0]
    with pytest.raises(SyscallError, match="tool choice"):
        action_grammar(fs, "nosuch.function")


def test_the_pre_pass_bounds_strings_and_arrays_and_makes_untyped_any():
    s = bounded({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"},
                                                  "tags": {"type": "array", "items": {"type": "string"}},
                                                  "x": {}}})
    p = s["properties"]
    assert p["path"]["maxLength"] == STRING_CAP and p["content"]["maxLength"] == CONTENT_CAP
    assert p["tags"]["maxItems"] == 8 and p["x"]["type"] == ANY_JSON["type"]


@pytest.mark.parametrize("schema,part", [
    ({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}, "/properties/a"),
    ({"type": "object", "patternProperties": {"^x": {}}}, "patternProperties"),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}, "$ref"),
    ({"type": "object", "properties": {"a": {"type": "strin"}}}, "a"),
])
def test_what_cannot_be_expressed_is_refused_in_one_line(schema, part):
    with pytest.raises(SyscallError) as e:
        check(schema)
    assert e.value.code == "EINVAL" and part in e.value.message and "\n" not in e.value.message


def test_every_kind_of_schema_compiles():
    check(NESTED)
    g = action_grammar([ORDER], "required")
    assert "shop.order" in g and "f0-Item ::=" in g


@pytest.mark.real
def test_llama_cpp_parses_the_whole_table_and_admits_every_example(smollm):
    g = action_grammar(SYSCALLS)
    for f in SYSCALLS:
        for ex in TABLE[f.name].examples:
            assert smollm.grammar_accepts(g, render_call(f.name, ex)), (f.name, ex)
    assert smollm.grammar_accepts(g, "Done: the file says hello.")


@pytest.mark.real
@pytest.mark.parametrize(
    "text",
    [
        render_call("fs.remove", {"path": "a"}),  # not granted
        render_call("fs.read", {}),  # missing required
        render_call("fs.read", {"path": "a", "mode": "x"}),  # unknown field
        render_call("fs.read", {"path": 3}),  # wrong type
        render_call("fs.read", {"path": "x" * 300}),  # too long
        render_call("fs.read", {"path": "a"}) + " and more",  # trailing text
        "<tool_call>[\nrm -rf /",
    ],
)
def test_grammar_rejects_what_the_dispatcher_would(smollm, text):
    g = action_grammar([syscall_function(TABLE["fs.read"]), syscall_function(TABLE["fs.list"])], "required")
    assert not smollm.grammar_accepts(g, text)


@pytest.mark.real
def test_nested_tool_arguments_are_admitted_and_constrained(smollm):
    g = action_grammar([ORDER], "required")
    ok = {"customer": {"name": "Ada", "tier": "gold"}, "items": [{"sku": "A1", "qty": 2}, {"sku": "B", "qty": 1}],
          "ship": {"city": "Porto"}, "meta": {"any": ["thing", 1]}, "note": [1, {"x": None}], "amount": 1.5e3}
    assert smollm.grammar_accepts(g, render_call("shop.order", ok))
    assert smollm.grammar_accepts(g, render_call("shop.order", {**ok, "ship": "pickup", "amount": 12345678901.25}))
    for bad in ({**ok, "items": []}, {**ok, "customer": {"tier": "gold"}}, {**ok, "ship": "drone"},
                {**ok, "customer": {"name": "Ada", "tier": "bronze"}}, {**ok, "extra": 1}):
        assert not smollm.grammar_accepts(g, render_call("shop.order", bad)), json.dumps(bad)
