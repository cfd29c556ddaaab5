"""The function-calling suite (bench/toolcall_*): its AST-match scorer, and the cases themselves."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from toolcall_score import canonical, load_cases, load_tools, score  # noqa: E402

TOOL = {
    "name": "trip.plan",
    "description": "Plan a trip.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "budget": {"type": "number"},
            "unit": {"type": "string", "enum": ["metric", "imperial"], "default": "metric"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "stops": {"type": "array", "items": {"$ref": "#/$defs/Stop"}},
            "hotel": {"type": "object", "required": ["stars"],
                      "properties": {"stars": {"type": "integer"}, "pool": {"type": "boolean", "default": False}}},
            "note": {"type": "string"},
            "pets": {"type": "boolean"},
        },
        "required": ["city", "days"],
        "$defs": {"Stop": {"type": "object", "required": ["name"],
                           "properties": {"name": {"type": "string"}, "nights": {"type": "integer", "default": 1}}}},
    },
}
EXPECTED = {
    "city": ["Paris", "Paris, France"],
    "days": [3],
    "budget": [1200],
    "unit": ["imperial"],
    "tags": [["food", "art"]],
    "stops": [[{"name": ["Lyon"], "nights": [2]}, {"name": ["Nice"], "nights": [1]}]],
    "hotel": [{"stars": [4]}],
    "pets": [None, False],
}
GOOD = {"city": "Paris", "days": 3, "budget": 1200, "unit": "imperial", "tags": ["food", "art"],
        "stops": [{"name": "Lyon", "nights": 2}, {"name": "Nice", "nights": 1}], "hotel": {"stars": 4}}


def check(args, expected=EXPECTED, name="trip.plan"):
    return score({"name": name, "arguments": args}, TOOL, expected)


def changed(**kw):
    args = json.loads(json.dumps(GOOD))
    for k, v in kw.items():
        if v is ...:
            del args[k]
        else:
            args[k] = v
    return args


def test_canonical_call_is_the_first_answers_and_scores():
    assert canonical(TOOL, EXPECTED) == GOOD
    assert check(GOOD) == (True, "ok")


@pytest.mark.parametrize("args", [
    changed(city="  PARIS,\tfrance "),  # case and whitespace do not count
    changed(days=3.0, budget=1200.0),  # numbers compare numerically
    changed(stops=[{"name": "lyon", "nights": 2}, {"name": "Nice"}]),  # nights left out: its default, 1
    changed(hotel={"stars": 4, "pool": False}),  # an unasked parameter set to its default
    changed(note=None),  # null counts as left out
    changed(pets=False),  # an optional answer given (GOOD leaves it out, which its null allows)
])
def test_right_calls_score(args):
    assert check(args) == (True, "ok")


def test_arguments_may_come_as_a_json_string():
    assert score({"name": "trip.plan", "arguments": json.dumps(GOOD)}, TOOL, EXPECTED) == (True, "ok")


@pytest.mark.parametrize(("args", "name", "why"), [
    (GOOD, "trip.book", "wrong function"),
    (changed(days=...), "trip.plan", "missing required parameter days"),
    (changed(nights=2), "trip.plan", "unknown parameter nights"),
    (changed(hotel={"stars": 4, "rating": 9}), "trip.plan", "unknown parameter hotel.rating"),
    (changed(stops=[{"name": "Lyon", "nights": 2, "x": 1}, {"name": "Nice"}]), "trip.plan",
     "unknown parameter stops[0].x"),
    (changed(city="Lyon"), "trip.plan", "city: 'Lyon' is not one of ['Paris'"),
    (changed(days="3"), "trip.plan", "days: '3'"),  # a string is not a number
    (changed(days=4), "trip.plan", "days: 4"),
    (changed(budget=1200.5), "trip.plan", "budget"),
    (changed(unit=...), "trip.plan", "unit: 'metric'"),  # asked for imperial, left at the default
    (changed(tags=["art", "food"]), "trip.plan", "tags[0]: 'art' is not 'food'"),  # arrays keep their order
    (changed(tags=["food", "art", "wine"]), "trip.plan", "tags"),
    (changed(tags="food, art"), "trip.plan", "tags"),
    (changed(stops=[{"name": "Lyon", "nights": 2}]), "trip.plan", "stops"),
    (changed(stops=[{"name": "Lyon", "nights": 3}, {"name": "Nice"}]), "trip.plan", "stops[0].nights: 3 is not 2"),
    (changed(stops=[{"nights": 2}, {"name": "Nice"}]), "trip.plan", "missing required parameter stops[0].name"),
    (changed(hotel={"pool": True}), "trip.plan", "missing required parameter hotel.stars"),
    (changed(hotel=4), "trip.plan", "hotel"),
    (changed(note="near the sea"), "trip.plan", "note: 'near the sea' was not asked for"),
    (changed(pets=True), "trip.plan", "pets"),
])
def test_each_kind_of_mistake_fails(args, name, why):
    ok, reason = check(args, name=name)
    assert not ok
    assert why in reason


def test_no_call_and_bad_arguments_fail():
    assert score(None, TOOL, EXPECTED) == (False, "no call")
    assert score({"name": "trip.plan", "arguments": "{city: Paris"}, TOOL, EXPECTED)[0] is False
    assert score({"name": "trip.plan", "arguments": [GOOD]}, TOOL, EXPECTED)[0] is False


def test_a_boolean_is_not_a_number():
    assert check(changed(days=True), expected={**EXPECTED, "days": [1]})[0] is False
    assert check(changed(days=1), expected={**EXPECTED, "days": [1]}) == (True, "ok")


def test_an_optional_parameter_left_out_matches_when_its_default_is_accepted():
    assert check(changed(unit=...), expected={**EXPECTED, "unit": ["metric"]}) == (True, "ok")
    assert check(changed(budget=...))[0] is False  # asked for, no default: leaving it out loses it


# -- the suite itself --------------------------------------------------------------------------

CASES = load_cases()
TOOLS = load_tools()


def test_suite_size_variety_and_split():
    assert len(CASES) >= 240
    per_tool = Counter(c["tool"]["name"] for c in CASES)
    assert len(per_tool) >= 40 and set(per_tool) == set(TOOLS)
    assert min(per_tool.values()) >= 3
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert len({c["question"] for c in CASES}) == len(CASES)
    assert [c["split"] for c in CASES] == ["heldout" if i % 4 == 3 else "dev" for i in range(len(CASES))]
    assert len(load_cases("dev")) + len(load_cases("heldout")) == len(CASES)
    held = {c["tool"]["name"] for c in load_cases("heldout")}
    assert len(held) >= 40  # the held-out quarter spreads over the tools


def test_schemas_cover_the_kinds_the_issue_names():
    text = json.dumps(list(TOOLS.values()))
    for kind in ('"enum"', '"default"', '"integer"', '"number"', '"boolean"', '"array"', '"$ref"', '"$defs"'):
        assert kind in text
    assert any("." in n for n in TOOLS) and any("_" in n and "." not in n for n in TOOLS)
    def has_array_of(item_type):
        return any(p.get("type") == "array" and p["items"].get("type") == item_type
                   for t in TOOLS.values() for p in t["parameters"]["properties"].values())
    assert has_array_of("object") and has_array_of("string")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_every_accepted_answer_is_a_valid_call_that_scores(case):
    tool, expected = case["tool"], case["expected"]
    schema = tool["parameters"]
    props = schema["properties"]
    assert set(expected) <= set(props)
    for req in schema.get("required", []):
        assert req in expected and None not in expected[req], f"{req} is required: the case must say its answer"
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    base = canonical(tool, expected)
    validator.validate(base)
    assert score({"name": tool["name"], "arguments": base}, tool, expected) == (True, "ok")
    for key, answers in expected.items():  # every alternative answer, one at a time
        for k in range(1, len(answers)):
            alt = canonical(tool, {**expected, key: answers[k:]})
            validator.validate(alt)
            assert score({"name": tool["name"], "arguments": alt}, tool, expected)[0]


def test_every_schema_compiles_to_a_llama_cpp_grammar():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    for tool in TOOLS.values():
        assert "root ::=" in json_schema_to_gbnf(json.dumps(tool["parameters"]))
