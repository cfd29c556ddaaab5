"""Property tests (hypothesis, seeded by the `llmos` profile in conftest): capabilities and scopes,
stop-string scanning, and the grammar against random JSON Schemas.

fs path resolution on random trees is in test_props_fs.py.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from llmos.drivers.base import StopScanner
from llmos.syscalls.caps import Capability, CapSet
from llmos.syscalls.grammar import Function, action_grammar
from wcmatch import glob as wc

# -- scopes and capabilities ------------------------------------------------------------------

NAMES = ["a", "b", "ab", "a.md"]
SEGMENT_GLOBS = ["*", "?", "**", "a*", "*.md", "?b", *NAMES]
CALLS = ["fs.read", "fs.write", "tool.call", "sys.info"]
PATTERNS = ["fs.read", "fs.write", "fs.*", "*", "tool.call", "*.read", "sys.info"]
CAP_EXAMPLES = 500  # each example is a few microseconds of matching

paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)
globs = st.lists(st.sampled_from(SEGMENT_GLOBS), min_size=1, max_size=3).map("/".join)
caps = st.builds(lambda p, s: Capability.parse(p if s is None else f"{p}:{s}"),
                 st.sampled_from(PATTERNS), st.none() | globs)
capsets = st.lists(caps, max_size=4).map(CapSet)
queries = st.tuples(st.sampled_from(CALLS), st.none() | paths)


def reference_match(glob: str, path: str) -> bool:
    """wcmatch's globstar matching: `*` and `?` stay in a segment, a `**` segment crosses them."""
    return wc.globmatch(path, glob, flags=wc.GLOBSTAR | wc.DOTGLOB | wc.FORCEUNIX)


@settings(max_examples=CAP_EXAMPLES)
@given(glob=globs, path=paths)
def test_scope_matching_agrees_with_wcmatch(glob, path):
    assert Capability.parse(f"fs.read:{glob}").allows("fs.read", path) == reference_match(glob, path)


@settings(max_examples=CAP_EXAMPLES)
@given(a=capsets, b=capsets, asks=st.lists(queries, min_size=1, max_size=8))
def test_intersect_allows_only_what_both_allow(a, b, asks):
    both = a.intersect(b)
    for name, scope in asks:
        if both.allows(name, scope):
            assert a.allows(name, scope) and b.allows(name, scope), (str(both), name, scope)


def _instance(glob: str, fill: list[str]) -> str:
    """A path the glob matches, its wildcards filled from `fill`."""
    out, i = [], 0
    for seg in glob.split("/"):
        if seg == "**":
            out += fill[i % len(fill)].split("/")[: i % 3]  # zero to two whole segments
        else:
            seg = seg.replace("*", fill[i % len(fill)].replace("/", "")).replace("?", "q")
            out.append(seg)
        i += 1
    return "/".join(out)


@settings(max_examples=CAP_EXAMPLES)
@given(inner=caps, outer=caps, fill=st.lists(paths, min_size=1, max_size=3), more=st.lists(paths, max_size=4))
def test_within_is_sound(inner, outer, fill, more):
    """`covers` (what proc.spawn checks a child's grants with) never says yes to a wider grant."""
    if not CapSet([outer]).covers(inner):
        return
    for name in CALLS:
        probes = ([_instance(inner.scope, fill)] if inner.scope else []) + more + [None]
        for scope in probes:
            if scope is not None and scope.startswith("/"):
                continue
            if inner.allows(name, scope):
                assert outer.allows(name, scope), (str(inner), str(outer), name, scope)


# -- stop strings -----------------------------------------------------------------------------

texts = st.text(alphabet="ab<|>\n é", max_size=40)


def _scan(stops: list[str], pieces: list[str]) -> tuple[str, str, bool]:
    streamed: list[str] = []
    s = StopScanner(stops, streamed.append)
    stopped = False
    for p in pieces:
        if s.feed(p):
            stopped = True
            break
    final = s.finish()
    return final, "".join(streamed), stopped


def _split(text: str, cuts: list[int]) -> list[str]:
    marks = sorted({c % (len(text) + 1) for c in cuts})
    return [text[i:j] for i, j in zip([0, *marks], [*marks, len(text)], strict=True)]


@given(text=texts, stop=st.text(alphabet="ab<|>", min_size=1, max_size=4), cuts=st.lists(st.integers(0, 60), max_size=12))
def test_stop_scanning_does_not_depend_on_the_split(text, stop, cuts):
    at = text.find(stop)
    expected = text if at < 0 else text[:at]
    final, streamed, stopped = _scan([stop], _split(text, cuts))
    assert (final, streamed, stopped) == (expected, expected, at >= 0)


# -- the grammar against random schemas (llama.cpp's grammar engine on the real driver) --------

GRAMMAR_EXAMPLES = 60  # schemas; each is checked against several instances and near misses

leaf_schemas = st.one_of(
    st.builds(lambda lo, n: {"type": "string", "minLength": lo, "maxLength": lo + n}, st.integers(0, 3), st.integers(0, 12)),
    st.builds(lambda lo, n: {"type": "integer", "minimum": lo, "maximum": lo + n}, st.sampled_from([0, 1]), st.integers(0, 3000)),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.sampled_from(["on", "off", "a b", "é"]), min_size=1, max_size=3, unique=True).map(lambda e: {"enum": e}),
)


def _objects(children):
    keys = st.lists(st.sampled_from(["path", "n", "mode", "a_b", "a-b", "deep"]), min_size=1, max_size=4, unique=True)

    def build(ks, values, required):
        props = dict(zip(ks, values, strict=False))
        req = [k for k, r in zip(ks, required, strict=False) if r]
        return {"type": "object", "properties": props, "required": req, "additionalProperties": False}

    return st.one_of(
        keys.flatmap(lambda ks: st.builds(build, st.just(ks), st.lists(children, min_size=len(ks), max_size=len(ks)),
                                          st.lists(st.booleans(), min_size=len(ks), max_size=len(ks)))),
        st.builds(lambda item, hi: {"type": "array", "items": item, "maxItems": hi}, children, st.integers(0, 4)),
        st.lists(children, min_size=2, max_size=2).map(lambda alts: {"anyOf": alts}),
    )


schemas = st.recursive(leaf_schemas, _objects, max_leaves=6).map(
    lambda s: s if s.get("type") == "object" else {"type": "object", "properties": {"v": s}, "required": ["v"],
                                                   "additionalProperties": False})


def _grammar_for(schema: dict) -> str:
    return action_grammar([Function("t.x", "test", schema)], "required")


def _call(text: str) -> str:
    return '<tool_call>[\n{"name": "t.x", "arguments": ' + text + "}\n]</tool_call>"


def _without_numeric_bounds(schema):
    """The schema less minimum/maximum: llama.cpp's converter leaves numeric bounds to validation
    after decoding (an EINVAL observation), so the grammar holds exactly everything else."""
    if isinstance(schema, list):
        return [_without_numeric_bounds(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: _without_numeric_bounds(v) for k, v in schema.items() if k not in ("minimum", "maximum")}


def _canonical(value, schema: dict) -> str:
    """JSON in the grammar's member order: an object's required members first, then the rest."""
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        order = [k for k in props if k in schema.get("required", [])] + [k for k in props if k not in schema.get("required", [])]
        extra = [k for k in value if k not in props]
        parts = [f"{json.dumps(k)}: {_canonical(value[k], props.get(k, {}))}" for k in order + extra if k in value]
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_canonical(v, schema.get("items", {})) for v in value) + "]"
    if "anyOf" in schema:
        for alt in schema["anyOf"]:
            if jsonschema.Draft202012Validator(alt).is_valid(value):
                return _canonical(value, alt)
    return json.dumps(value, ensure_ascii=False)  # the grammar spells non-ASCII (enum members too) raw


def _edges(schema: dict):
    """Values just inside and just outside a leaf schema's bounds."""
    if schema.get("type") == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", 30)
        yield from ("x" * max(lo - 1, 0), "x" * lo, "x" * hi, "x" * (hi + 1), 'a"\\b', "\n\t")
    elif schema.get("type") == "integer":
        lo, hi = schema["minimum"], schema["maximum"]
        yield from (lo - 1, lo, hi, hi + 1, 1.5)
    elif schema.get("type") == "array":
        yield from ([None] * (schema.get("maxItems", 8) + 1), [])
    elif "enum" in schema:
        yield from ("nope", *schema["enum"])
    for alt in schema.get("anyOf", []):
        yield from _edges(alt)


def _mutants(value, schema: dict):
    """Near misses: each member dropped, retyped, pushed to and past its bounds; an extra member."""
    yield from _edges(schema)
    yield from (None, 7, "s", [], {}, True)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        yield {**value, "zz": 1}
        for k in value:
            yield {j: v for j, v in value.items() if j != k}
            for inner in _mutants(value[k], props.get(k, {})):
                yield {**value, k: inner}
    elif isinstance(value, list):
        for i, v in enumerate(value):
            for inner in _mutants(v, schema.get("items", {})):
                yield [*value[:i], inner, *value[i + 1 :]]


def _expressible(driver, text: str) -> bool:
    """Text the model could emit: its strings hold no control characters but \\n and \\t
    (escaped), and its tokens spell it exactly (SmolLM2 has no token for some UTF-8 lead bytes)."""
    if any(ord(c) < 0x20 and c not in "\n\t" or c == "\x7f" for c in text):
        return False
    return driver.detokenize(driver.tokenize(text)) == text


@pytest.mark.real
@settings(max_examples=GRAMMAR_EXAMPLES)
@given(schema=schemas, data=st.data())
def test_grammar_accepts_exactly_the_instances(smollm, schema, data):
    grammar = _grammar_for(schema)
    valid = jsonschema.Draft202012Validator(_without_numeric_bounds(schema))
    values = data.draw(st.lists(from_schema(schema), min_size=1, max_size=4), label="instances")
    for value in values:
        text = _canonical(value, schema)
        assume(_expressible(smollm, text))
        action = _call(text)
        assert smollm.grammar_accepts(grammar, action), action
        for bad in _mutants(value, schema):
            bad_text = _canonical(bad, schema)
            if not _expressible(smollm, bad_text):
                continue
            action = _call(bad_text)
            assert smollm.grammar_accepts(grammar, action) == valid.is_valid(bad), action
