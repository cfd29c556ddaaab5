"""Grammars for the model's actions, generated from the syscall table.

An action is one JSON object, `{"call": NAME, "args": {...}}`, where NAME is one of the calls
a process may make (plus the pseudo-calls `reply` and `exit`) and `args` follows that call's
JSON Schema. `gbnf()` turns those schemas into a llama.cpp GBNF grammar, so even a 135M model
cannot emit a malformed or ungranted call. Every string and array is bounded (maxLength,
maxItems; a default cap where the schema has none), so decoding cannot run away.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from pydantic import Field

from .caps import CapSet
from .spec import Args, Syscall

STRING_CAP = 120  # characters, for strings the schema leaves unbounded or bounds above this
CONTENT_CAP = 480  # characters, for long free text (file content, replies)
ARRAY_CAP = 8


class ReplyArgs(Args):
    text: str = Field(description="your answer to the user", max_length=CONTENT_CAP)


class ExitArgs(Args):
    status: int = Field(0, ge=0, le=255, description="0 for success")
    reason: str = Field("", max_length=STRING_CAP, description="why the process stops")


# The pseudo-calls every process has: they end the process instead of dispatching a syscall.
PSEUDO = {
    "reply": ("Answer the user and finish.", ReplyArgs, {"text": "The file says hello."}),
    "exit": ("Stop without an answer (status 0 = success).", ExitArgs, {"status": 1, "reason": "cannot do that"}),
}


def _upto(hi: str) -> list[str]:
    """GBNF alternatives for the digit strings of exactly len(hi) digits that are <= hi."""
    alts = []
    for i, d in enumerate(hi):
        first = i == 0
        low = 1 if first else 0
        if int(d) > low:
            top = int(d) - 1
            digit = f"[{low}-{top}]" if top > low else f"[{low}]"
            rest = len(hi) - i - 1
            alts.append(" ".join(filter(None, [_lit(hi[:i]) if i else "", digit, f"[0-9]{{{rest}}}" if rest else ""])))
    alts.append(_lit(hi))
    return alts


def int_range(lo: int, hi: int) -> str:
    """An exact GBNF for the integers lo..hi, for lo in {0, 1}; lo < 0 allows any sign."""
    digits = str(max(hi, 0))
    parts = [f"[{1 if lo == 1 else 0}-9]" if len(digits) > 1 else f"[{min(max(lo, 0), int(digits))}-{digits}]"]
    for n in range(2, len(digits)):
        parts.append(f"[1-9] [0-9]{{{n - 1}}}")
    if len(digits) > 1:
        parts += _upto(digits)
    body = " | ".join(f"({p})" for p in parts)
    return f'"-"? ({body})' if lo < 0 else body


def _lit(text: str) -> str:
    """A GBNF string literal."""
    return json.dumps(text)


class _Builder:
    def __init__(self, defs: dict):
        self.defs = defs
        self.rules: dict[str, str] = {}

    def rule(self, name: str, body: str) -> str:
        name = re.sub(r"[^a-zA-Z0-9-]", "-", name)
        if name not in self.rules:
            self.rules[name] = body
        return name

    def string(self, max_len: int | None, min_len: int = 0) -> str:
        cap = min(max_len if max_len is not None else STRING_CAP, CONTENT_CAP)
        lo = min(min_len, cap)
        return self.rule(f"str-{lo}-{cap}", f'"\\"" char{{{lo},{cap}}} "\\""')

    def value(self, schema: dict, hint: str) -> str:
        if "$ref" in schema:
            ref = schema["$ref"].split("/")[-1]
            return self.rule(f"obj-{ref}", self.obj_body(self.defs[ref], f"obj-{ref}"))
        if "anyOf" in schema:
            alts = [self.value(s, f"{hint}-{i}") for i, s in enumerate(schema["anyOf"])]
            return self.rule(f"{hint}-any", " | ".join(alts))
        if "enum" in schema or "const" in schema:
            options = schema.get("enum", [schema.get("const")])
            return self.rule(f"{hint}-enum", " | ".join(_lit(json.dumps(o)) for o in options))
        t = schema.get("type")
        if t == "string":
            return self.string(_string_cap(schema, hint), schema.get("minLength", 0))
        if t == "integer":
            lo = schema.get("minimum", schema.get("exclusiveMinimum", -2) + 1)
            hi = schema.get("maximum", schema.get("exclusiveMaximum", 10**10) - 1)
            return self.rule(f"int-{lo}-{hi}".replace("--", "-m"), int_range(lo, hi))
        if t == "number":
            neg = "" if schema.get("minimum", -1) >= 0 else '"-"? '
            return self.rule("num-nonneg" if not neg else "num", f'{neg}("0" | [1-9] [0-9]{{0,9}}) ("." [0-9]{{1,6}})?')
        if t == "boolean":
            return self.rule("bool", '"true" | "false"')
        if t == "null":
            return self.rule("null", '"null"')
        if t == "array":
            item = self.value(schema.get("items", {"type": "string"}), f"{hint}-item")
            hi = min(schema.get("maxItems", ARRAY_CAP), ARRAY_CAP)
            lo = schema.get("minItems", 0)
            if hi <= 0:
                return self.rule("empty-array", '"[" "]"')
            more = f'("," ws {item}){{{max(lo - 1, 0)},{hi - 1}}}'
            body = f'"[" ws {item} {more} ws "]"' if lo >= 1 else f'"[" ws ({item} {more})? ws "]"'
            return self.rule(f"{hint}-arr", body)
        if t == "object":
            return self.rule(f"{hint}-obj", self.obj_body(schema, hint))
        raise ValueError(f"cannot make a grammar for schema {schema}")

    def obj_body(self, schema: dict, hint: str) -> str:
        props = schema.get("properties", {})
        required = [k for k in props if k in schema.get("required", [])]
        optional = [k for k in props if k not in required]

        def member(k: str) -> str:
            return f'{_lit(json.dumps(k))} ":" ws {self.value(props[k], f"{hint}-{k}")}'

        if not props:
            return '"{" ws "}"'
        parts = []
        first = True
        for k in required:
            parts.append(member(k) if first else f'"," ws {member(k)}')
            first = False
        if required:
            parts += [f'("," ws {member(k)})?' for k in optional]
            return '"{" ws ' + " ".join(parts) + ' ws "}"'
        # no required members: any in-order subset, comma-separated
        alts = []
        for i, k in enumerate(optional):
            rest = " ".join(f'("," ws {member(j)})?' for j in optional[i + 1 :])
            alts.append(f"{member(k)} {rest}".strip())
        return '"{" ws (' + " | ".join(alts) + ')? ws "}"'


def _call_rule(b: _Builder, name: str, schema: dict) -> str:
    b.defs.update(schema.get("$defs", {}))
    if "properties" in schema or schema.get("type") == "object" and "anyOf" not in schema:
        args = b.rule(f"args-{name}", b.obj_body(schema, f"a-{name}"))
    else:
        args = b.value(schema, f"args-{name}")
    return b.rule(f"call-{name}", f'"{{" ws "\\"call\\":" ws {_lit(json.dumps(name))} "," ws "\\"args\\":" ws {args} ws "}}"')


@lru_cache(maxsize=64)
def _gbnf(names_and_schemas: tuple[tuple[str, str], ...]) -> str:
    b = _Builder({})
    calls = [_call_rule(b, name, json.loads(schema)) for name, schema in names_and_schemas]
    lines = [f"root ::= {' | '.join(calls)}"]
    lines += [f"{k} ::= {v}" for k, v in b.rules.items()]
    lines.append('ws ::= " "?')
    lines.append(r'char ::= [^"\\\x00-\x1F\x7F] | "\\" ["\\/nt]')
    return "\n".join(lines) + "\n"


def _string_cap(schema: dict, hint: str) -> int:
    long_text = hint.endswith(("content", "text"))
    return min(schema.get("maxLength", CONTENT_CAP), CONTENT_CAP if long_text else STRING_CAP)


def max_chars(schema: dict, defs: dict, hint: str = "") -> int:
    """The most characters a value of `schema` can take under the grammar (escapes count 2)."""
    if "$ref" in schema:
        return max_chars(defs[schema["$ref"].split("/")[-1]], defs, hint)
    if "anyOf" in schema:
        return max(max_chars(s, defs, hint) for s in schema["anyOf"])
    if "enum" in schema or "const" in schema:
        return max(len(json.dumps(o)) for o in schema.get("enum", [schema.get("const")]))
    t = schema.get("type")
    if t == "string":
        return 2 * _string_cap(schema, hint) + 2
    if t in ("integer", "number"):
        return 18
    if t in ("boolean", "null"):
        return 5
    if t == "array":
        n = min(schema.get("maxItems", ARRAY_CAP), ARRAY_CAP)
        return 2 + n * (max_chars(schema.get("items", {"type": "string"}), defs, hint + "-item") + 2)
    props = schema.get("properties", {})
    return 2 + sum(len(k) + 5 + max_chars(v, defs, f"{hint}-{k}") for k, v in props.items())


def max_action_chars(specs: list[Syscall], caps: CapSet | None = None) -> int:
    """The longest action the grammar for `specs` admits, in characters (>= its tokens)."""
    longest = 0
    for name, schema in action_schemas(specs, caps):
        longest = max(longest, 30 + len(name) + max_chars(schema, schema.get("$defs", {}), f"a-{name}"))
    return longest


def action_schemas(specs: list[Syscall], caps: CapSet | None = None) -> list[tuple[str, dict]]:
    """(name, args schema the model sees) for each callable syscall, then the pseudo-calls."""
    out = []
    for s in specs:
        if s.model_schema is not None:
            out.append((s.name, s.model_schema(lambda scope, s=s: caps is None or caps.allows(s.capability, scope))))
        else:
            out.append((s.name, s.args_schema()))
    out += [(name, model.model_json_schema()) for name, (_, model, _) in PSEUDO.items()]
    return out


def gbnf(specs: list[Syscall], caps: CapSet | None = None) -> str:
    """The GBNF grammar of one action for a process that may call `specs` (cached per set)."""
    key = tuple((name, json.dumps(schema)) for name, schema in action_schemas(specs, caps))
    return _gbnf(key)


def parse_action(text: str) -> tuple[str, dict]:
    """(call, args) from an action's text; ValueError if it is not an action object."""
    obj = json.loads(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("call"), str) or not isinstance(obj.get("args", {}), dict):
        raise ValueError('an action is {"call": NAME, "args": {...}}')
    return obj["call"], obj.get("args", {})
