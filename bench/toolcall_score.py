"""The function-calling suite of bench/toolcall.py: loading its cases and scoring a call (AST match).

The suite is two data files next to this one:
  toolcall_tools.json    the tools, in OpenAI function format {"name", "description", "parameters"}
  toolcall_cases.jsonl   one case a line: {"id", "split", "tool" (a tool's name), "question", "expected"}

`expected` maps a parameter to the list of its accepted answers. For an object parameter an
accepted answer is itself such a map (sub-parameter -> accepted list); for an array, a list whose
items are matched in order (for an array of objects each item is such a map). `null` in an
accepted list means the parameter may be left out.

The split is fixed: every 4th case in file order (index 3, 7, 11, ...) is `heldout`, the rest `dev`;
each line records its split, and new cases are appended at the end, so no case ever changes side.

A call matches (`score`) when:
  - its name is the tool's name;
  - it passes no parameter the schema does not declare, at any depth;
  - every required parameter is present;
  - every parameter in `expected` has one of its accepted answers: numbers compare numerically
    (5 == 5.0; a boolean is not a number), strings ignoring case and all whitespace, arrays
    item by item in order, objects recursively by these same rules. A parameter left out (or
    null) counts as its schema default, so it matches when that default is accepted;
  - a parameter the question does not mention (absent from `expected`) is left out or set to
    its schema default: a value the user never asked for is a mistake.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS_FILE = HERE / "toolcall_tools.json"
CASES_FILE = HERE / "toolcall_cases.jsonl"
SPLITS = ("dev", "heldout")
_ABSENT = object()  # a parameter the call left out and that has no default


def load_tools() -> dict[str, dict]:
    return {t["name"]: t for t in json.loads(TOOLS_FILE.read_text())}


def load_cases(split: str = "all") -> list[dict]:
    """The cases of one split ("dev", "heldout" or "all"), each with its tool's full definition."""
    if split not in ("all", *SPLITS):
        raise ValueError(f"unknown split {split!r}; use dev, heldout or all")
    tools = load_tools()
    cases = []
    for line in CASES_FILE.read_text().splitlines():
        case = json.loads(line)
        if split in ("all", case["split"]):
            cases.append({**case, "tool": tools[case["tool"]]})
    return cases


def score(call: dict | None, tool: dict, expected: dict) -> tuple[bool, str]:
    """(True, "ok") when `call` ({"name", "arguments"}) is a right call; else (False, why)."""
    if not isinstance(call, dict):
        return False, "no call"
    if call.get("name") != tool["name"]:
        return False, f"wrong function {call.get('name')!r}"
    args = call.get("arguments")
    if isinstance(args, str):  # OpenAI wire format carries the arguments as a JSON string
        try:
            args = json.loads(args)
        except ValueError:
            return False, "arguments are not JSON"
    root = tool["parameters"]
    why = _why_object(args, expected, root, root, "")
    return why is None, why or "ok"


def canonical(tool: dict, expected: dict) -> dict:
    """The arguments made of the first accepted answer of every expected parameter."""
    root = tool["parameters"]
    return _example(expected, root, root)


# -- matching --------------------------------------------------------------------------------


def _deref(schema: dict, root: dict) -> dict:
    """Follow a local "$ref": "#/$defs/Name" (or any "#/a/b" pointer into the root schema)."""
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _why_object(value, pattern: dict, schema: dict, root: dict, path: str) -> str | None:
    """Why `value` does not match the pattern of an object schema, or None when it does."""
    schema = _deref(schema, root)
    if not isinstance(value, dict):
        return f"{path.rstrip('.') or 'arguments'}: {value!r} is not an object"
    props = schema.get("properties", {})
    for key in value:
        if key not in props:
            return f"unknown parameter {path}{key}"
    for key in schema.get("required", []):
        if key not in value:
            return f"missing required parameter {path}{key}"
    for key, sub in props.items():
        sub = _deref(sub, root)
        has_default = "default" in sub
        omitted = value.get(key) is None
        if key not in pattern:  # the question does not ask for it
            if omitted or (has_default and _same(value[key], sub["default"])):
                continue
            return f"{path}{key}: {value[key]!r} was not asked for"
        accepted = [a for a in pattern[key] if a is not None]
        if omitted and len(accepted) < len(pattern[key]):
            continue
        got = (sub["default"] if has_default else _ABSENT) if omitted else value[key]
        whys = [_why(got, a, sub, root, f"{path}{key}") for a in accepted]
        if None not in whys:
            if len(whys) == 1:  # one answer: say what in it is wrong
                return whys[0]
            shown = "left out" if got is _ABSENT else repr(got)
            return f"{path}{key}: {shown} is not one of {accepted!r}"
    return None


def _why(got, accepted, schema: dict, root: dict, path: str) -> str | None:
    """Why `got` does not match one accepted answer, or None when it does."""
    schema = _deref(schema, root)
    if got is _ABSENT:
        return f"{path}: left out, expected {accepted!r}"
    if isinstance(accepted, dict):  # a pattern for an object
        return _why_object(got, accepted, schema, root, f"{path}.")
    if isinstance(accepted, list) and schema.get("type") == "array":
        if not isinstance(got, list) or len(got) != len(accepted):
            return f"{path}: {got!r} is not a list of {len(accepted)}"
        items = schema.get("items", {})
        for i, (g, a) in enumerate(zip(got, accepted, strict=True)):
            if why := _why(g, a, items, root, f"{path}[{i}]"):
                return why
        return None
    return None if _same(got, accepted) else f"{path}: {got!r} is not {accepted!r}"


def _same(a, b) -> bool:
    """Equal as values: numbers numerically, strings ignoring case and whitespace, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, str):
        return _norm(a) == _norm(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a is None and b is None


def _norm(s: str) -> str:
    return "".join(s.split()).casefold()


def _example(pattern: dict, schema: dict, root: dict) -> dict:
    props = _deref(schema, root).get("properties", {})
    return {k: _value(v[0], props[k], root) for k, v in pattern.items() if v[0] is not None}


def _value(accepted, schema: dict, root: dict):
    schema = _deref(schema, root)
    if isinstance(accepted, dict):
        return _example(accepted, schema, root)
    if isinstance(accepted, list) and schema.get("type") == "array":
        return [_value(a, schema.get("items", {}), root) for a in accepted]
    return accepted
