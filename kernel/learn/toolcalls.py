"""Synthetic function-calling examples: tools of many shapes, questions about them, right calls.

So the default model learns to call a tool a user hands it -- any name, any JSON Schema --
without ever training on the tool-call benchmark (bench/toolcall_*). The catalog
(kernel/learn/data/toolcalls_*.json) was written for this and shares no tool with the
benchmark: other domains (home, health, school, work, ops, science, text utilities), its own
schemas (nested objects, `$ref`, enums, arrays of strings and of objects, optional parameters
with defaults, integers, numbers, booleans) and its own question templates.

A catalog entry:
    {"tool": {"name", "description", "parameters": JSON Schema},
     "slots": {"city": ["Oslo", "Lima", {"say": "the Big Apple", "value": "New York"}], ...},
     "questions": [{"q": "... {city} ...", "args": {"city": "{city}", ...}}, ...]}
A slot value is said in the question as written (lists as "a, b and c"), or as `say` and put in
the call as `value`. In `args`, a string that is exactly "{slot}" becomes the slot's value with
its type (number, list, object); other strings are formatted with the said text. One draw of
each slot serves a whole question, so the same value is said and called.

    python -m llmos.kernel.learn.toolcalls --check [FILE...]   # every template fills and validates
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def catalog_files() -> list[Path]:
    return sorted(DATA.glob("toolcalls_*.json"))


def load_catalog(files: list[Path] | None = None) -> list[dict]:
    out = []
    for path in files or catalog_files():
        for entry in json.loads(path.read_text()):
            entry = dict(entry, source=path.name)
            out.append(entry)
    return out


def _say(value) -> str:
    if isinstance(value, dict) and "say" in value:
        return str(value["say"])
    if isinstance(value, list):
        words = [_say(v) for v in value]
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _value(value):
    return value["value"] if isinstance(value, dict) and "say" in value and "value" in value else value


def _fill(template, drawn: dict):
    if isinstance(template, str):
        whole = SLOT.fullmatch(template)
        if whole:
            return _value(drawn[whole.group(1)])
        return SLOT.sub(lambda m: _say(drawn[m.group(1)]), template)
    if isinstance(template, list):
        return [_fill(t, drawn) for t in template]
    if isinstance(template, dict):
        return {k: _fill(v, drawn) for k, v in template.items()}
    return template


def _slots_in(template) -> set[str]:
    if isinstance(template, str):
        return set(SLOT.findall(template))
    if isinstance(template, list):
        return set().union(*(_slots_in(t) for t in template)) if template else set()
    if isinstance(template, dict):
        return set().union(*(_slots_in(v) for v in template.values())) if template else set()
    return set()


def fill(entry: dict, question: dict, r: random.Random) -> dict:
    """One case: {"tool", "question", "arguments"} with every slot drawn once."""
    names = _slots_in(question["q"]) | _slots_in(question["args"])
    drawn = {n: r.choice(entry["slots"][n]) for n in sorted(names)}
    text = _fill(question["q"], drawn)
    return {"tool": entry["tool"], "question": text[:1].upper() + text[1:], "arguments": _fill(question["args"], drawn)}


def generate(n_per_question: int = 1, seed: int = 0, catalog: list[dict] | None = None) -> list[dict]:
    """`n_per_question` cases from each question template (distinct where the slots allow)."""
    r = random.Random(seed)
    out, seen = [], set()
    for entry in catalog if catalog is not None else load_catalog():
        for question in entry["questions"]:
            made = 0
            for _ in range(n_per_question * 4):
                case = fill(entry, question, r)
                key = (case["tool"]["name"], case["question"])
                if key not in seen:
                    seen.add(key)
                    out.append(case)
                    made += 1
                if made >= n_per_question:
                    break
    return out


def check(entries: list[dict]) -> list[str]:
    """What is wrong with a catalog: each problem as one line (empty when all is well)."""
    import jsonschema

    from ...syscalls.schema import check as check_tool_schema
    from ...syscalls.tool import NAME

    problems, names = [], set()
    r = random.Random(0)
    for entry in entries:
        tool = entry.get("tool", {})
        name = tool.get("name", "?")
        where = f"{entry.get('source', '?')}: {name}"
        if not NAME.match(name):
            problems.append(f"{where}: bad tool name")
        if name in names:
            problems.append(f"{where}: the tool name is used twice")
        names.add(name)
        if not tool.get("description"):
            problems.append(f"{where}: no description")
        params = tool.get("parameters", {})
        try:
            jsonschema.Draft202012Validator.check_schema(params)
            check_tool_schema(params)
        except Exception as exc:  # noqa: BLE001 -- reported, one line per problem
            problems.append(f"{where}: parameters: {str(exc).splitlines()[0]}")
            continue
        qs = entry.get("questions", [])
        if len(qs) < 4:
            problems.append(f"{where}: only {len(qs)} questions (write at least 4)")
        for q in qs:
            missing = (_slots_in(q.get("q", "")) | _slots_in(q.get("args", {}))) - set(entry.get("slots", {}))
            if missing:
                problems.append(f"{where}: {q.get('q')!r}: undefined slots {sorted(missing)}")
                continue
            for _ in range(8):
                case = fill(entry, q, r)
                errors = sorted(jsonschema.Draft202012Validator(params).iter_errors(case["arguments"]), key=str)
                if errors:
                    problems.append(f"{where}: {case['question']!r} -> {json.dumps(case['arguments'])}: {errors[0].message}")
                    break
                if "{" in case["question"] or "}" in case["question"]:
                    problems.append(f"{where}: {case['question']!r}: a brace left in the question")
                    break
    return problems


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv if not a.startswith("--")] or catalog_files()
    entries = load_catalog(files)
    problems = check(entries)
    for p in problems:
        print(p)
    cases = generate(2, catalog=entries)
    print(f"{len(entries)} tools, {sum(len(e['questions']) for e in entries)} question templates, "
          f"{len(cases)} cases at 2 per template; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
