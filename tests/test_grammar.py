"""Grammars generated from the table: exact bounds, and llama.cpp parses and enforces them."""

from __future__ import annotations

import json
import re

import pytest
from llmos.syscalls.caps import CapSet
from llmos.syscalls.grammar import gbnf, int_range, parse_action
from llmos.syscalls.table import TABLE


def to_regex(rule: str) -> str:
    """The small GBNF subset int_range emits, as a Python regex."""
    out = re.sub(r'"([^"]*)"', lambda m: re.escape(m.group(1)), rule)
    return out.replace(" ", "")


@pytest.mark.parametrize("lo,hi", [(0, 9), (1, 9), (0, 10), (0, 255), (1, 8192), (0, 1000), (1, 100), (0, 4096)])
def test_int_range_is_exact(lo, hi):
    rx = re.compile("(?:" + to_regex(int_range(lo, hi)) + r")\Z")
    for n in range(0, hi + 200):
        assert bool(rx.match(str(n))) == (lo <= n <= hi), (lo, hi, n)
    assert not rx.match("01") and not rx.match("-1")


def test_parse_action():
    assert parse_action('{"call": "fs.read", "args": {"path": "a"}}') == ("fs.read", {"path": "a"})
    for bad in ['[]', '{"call": 3}', '{"args": {}}', '{"call": "x", "args": []}', "nope"]:
        with pytest.raises(ValueError):
            parse_action(bad)


def test_grammar_is_cached_and_depends_on_grants():
    specs = [TABLE["fs.read"], TABLE["tool.call"]]
    assert gbnf(specs) is gbnf(specs)
    assert "calculator" in gbnf(specs)
    assert "calculator" not in gbnf(specs, CapSet.parse(["tool.call:other"]))


def _example_actions():
    for name, spec in sorted(TABLE.items()):
        for ex in spec.examples:
            yield name, json.dumps({"call": name, "args": ex})


@pytest.mark.real
def test_llama_cpp_parses_the_whole_table_and_admits_every_example(smollm):
    g = gbnf(list(TABLE.values()))
    for _name, text in _example_actions():
        assert smollm.grammar_accepts(g, text), text
    assert smollm.grammar_accepts(g, '{"call": "reply", "args": {"text": "done"}}')
    assert smollm.grammar_accepts(g, '{"call": "exit", "args": {"status": 2, "reason": "no"}}')


@pytest.mark.real
@pytest.mark.parametrize(
    "text",
    [
        '{"call": "fs.remove", "args": {"path": "a"}}',  # not granted
        '{"call": "fs.read", "args": {}}',  # missing required
        '{"call": "fs.read", "args": {"path": "a", "mode": "x"}}',  # unknown field
        '{"call": "fs.read", "args": {"path": 3}}',  # wrong type
        '{"call": "exit", "args": {"status": 256}}',  # out of range
        '{"call": "reply", "args": {"text": "' + "x" * 1300 + '"}}',  # too long
        '{"call": "fs.read", "args": {"path": "a"}} and more',  # trailing text
        'rm -rf /',
    ],
)
def test_grammar_rejects_what_the_dispatcher_would(smollm, text):
    g = gbnf([TABLE["fs.read"], TABLE["fs.list"]])
    assert not smollm.grammar_accepts(g, text)


@pytest.mark.real
def test_tool_arguments_are_constrained_per_tool(smollm):
    g = gbnf([TABLE["tool.call"]])
    ok = '{"call": "tool.call", "args": {"name": "calculator", "args": {"expression": "1+2"}}}'
    assert smollm.grammar_accepts(g, ok)
    assert not smollm.grammar_accepts(g, ok.replace("calculator", "shell"))
    assert not smollm.grammar_accepts(g, ok.replace("expression", "code"))
