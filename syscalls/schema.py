"""JSON Schemas made ready for the action grammar: bounded, self-contained, or refused in one line.

The grammar itself comes from llama.cpp's own converter (llama_cpp.llama_grammar's
json_schema_to_gbnf), not a hand-written one. This pre-pass makes any schema a user hands over
fit it:
- every string and array gets a bound (maxLength, maxItems), so decoding cannot run away: a
  string at most 120 characters (480 for long text: content, text, body, message, ...), an
  array at most 8 items, or less where the schema says less;
- `{}` / `true` (any JSON value) becomes an explicit union of every JSON type, and a bare
  `{"type": "object"}` stays a free-form object with any keys (the converter maps `{}` to an
  object only);
- `$defs`/`definitions` are hoisted to the document root under a prefix, so many schemas can
  share one grammar and each `#/$defs/...` still resolves;
- what the converter cannot express (`not`, `if`, `patternProperties`, remote `$ref`, ...)
  is refused with EINVAL naming where in the schema it is.
Objects with `properties` are closed (no unknown keys) unless `additionalProperties` opens
them: a call with unknown parameters is a wrong call. Numeric bounds (minimum, maximum,
multipleOf) and string patterns beyond the converter's reach are checked by validation after
decoding instead (jsonschema), as an EINVAL observation the model can act on.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errno import Errno, SyscallError

STRING_CAP = 120  # characters, for strings the schema leaves unbounded (names, paths, values)
CONTENT_CAP = 480  # characters, for long free text (file content, replies) and the most of any string
ARRAY_CAP = 8
LONG_TEXT = ("content", "text", "body", "message", "description", "prompt", "query", "code")
ANY_JSON = {"type": ["object", "array", "string", "number", "boolean", "null"]}
# Keywords the grammar cannot honour and that would make it reject valid instances or miss rules.
UNSUPPORTED = ("not", "if", "then", "else", "patternProperties", "dependentSchemas", "dependencies",
               "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contains", "$dynamicRef")
TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def refuse(where: str, why: str) -> SyscallError:
    return SyscallError(Errno.EINVAL, f"schema at {where or '/'}: {why}")


def _cap(name: str) -> int:
    return CONTENT_CAP if name.lower().endswith(LONG_TEXT) else STRING_CAP


def bounded(schema: Any, *, prefix: str = "d", defs: dict | None = None, where: str = "", name: str = "") -> Any:
    """A copy of `schema` ready for the converter (see the module docstring). Its `$defs` are
    moved into `defs` (the caller puts them at the root) as `{prefix}__{name}`."""
    defs = {} if defs is None else defs
    if schema is True:
        return dict(ANY_JSON)
    if schema is False:
        raise refuse(where, "`false` admits no value; remove the parameter")
    if not isinstance(schema, dict):
        raise refuse(where, f"a schema must be an object, not {type(schema).__name__}")
    s = copy.deepcopy(schema)
    for key in UNSUPPORTED:
        if key in s:
            raise refuse(where, f"`{key}` cannot be expressed in the action grammar; remove it or use anyOf/enum")
    for key in ("$defs", "definitions"):
        for dname, sub in (s.pop(key, None) or {}).items():
            defs[f"{prefix}__{dname}"] = bounded(sub, prefix=prefix, defs=defs, where=f"{where}/{key}/{dname}",
                                                 name=dname)
    if "$ref" in s:
        ref = s["$ref"]
        for root in ("#/$defs/", "#/definitions/"):
            if isinstance(ref, str) and ref.startswith(root) and "/" not in ref[len(root):]:
                return {"$ref": f"#/$defs/{prefix}__{ref[len(root):]}"}
        raise refuse(where, f"$ref {ref!r} is not a local #/$defs/NAME reference")
    for key in ("anyOf", "oneOf"):
        if key in s:
            if not isinstance(s[key], list) or not s[key]:
                raise refuse(where, f"`{key}` needs a non-empty list")
            s[key] = [bounded(x, prefix=prefix, defs=defs, where=f"{where}/{key}/{i}", name=name)
                      for i, x in enumerate(s[key])]
    if "allOf" in s:
        parts = s.pop("allOf")
        if not isinstance(parts, list) or not all(isinstance(p, dict) and set(p) <= {"type", "properties", "required",
                                                                                   "description", "title"} for p in parts):
            raise refuse(where, "`allOf` is supported only as a merge of plain objects; write the merged object")
        for p in parts:
            s.setdefault("properties", {}).update(p.get("properties", {}))
            s["required"] = sorted(set(s.get("required", [])) | set(p.get("required", [])))
        s.setdefault("type", "object")
    t = s.get("type")
    kinds = t if isinstance(t, list) else [t] if t is not None else []
    if any(k not in TYPES for k in kinds):
        raise refuse(where, f"unknown type {t!r}")
    constrained = any(k in s for k in ("enum", "const", "anyOf", "oneOf", "$ref", "properties", "items", "prefixItems"))
    if not kinds and not constrained:
        rest = {k: v for k, v in s.items() if k in ("description", "title", "default", "examples")}
        return {**rest, **ANY_JSON}  # `{}`: any JSON value
    if "string" in kinds and not any(k in s for k in ("enum", "const", "pattern", "format")):
        s["maxLength"] = min(int(s.get("maxLength", CONTENT_CAP)), _cap(name))
        if s.get("minLength", 0) > s["maxLength"]:
            raise refuse(where, f"minLength {s['minLength']} is over the most the grammar generates ({CONTENT_CAP})")
    if "array" in kinds or "items" in s or "prefixItems" in s:
        lo = int(s.get("minItems", 0))
        s["maxItems"] = max(lo, min(int(s.get("maxItems", ARRAY_CAP)), ARRAY_CAP))
        if "items" in s:
            s["items"] = bounded(s["items"], prefix=prefix, defs=defs, where=f"{where}/items", name=name)
        if "prefixItems" in s:
            s["prefixItems"] = [bounded(x, prefix=prefix, defs=defs, where=f"{where}/prefixItems/{i}", name=name)
                                for i, x in enumerate(s["prefixItems"])]
    if "properties" in s:
        if not isinstance(s["properties"], dict):
            raise refuse(where, "`properties` must be an object")
        s["properties"] = {k: bounded(v, prefix=prefix, defs=defs, where=f"{where}/properties/{k}", name=k)
                           for k, v in s["properties"].items()}
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        s["additionalProperties"] = bounded(extra, prefix=prefix, defs=defs, where=f"{where}/additionalProperties")
    return s


SHOWN = ("type", "description", "enum", "const", "properties", "required", "items", "anyOf", "oneOf", "$ref",
         "$defs", "format")


def compact(schema: Any) -> Any:
    """What the model is shown of a schema: types, descriptions, enums and what is required;
    no titles, defaults or bounds (fewer tokens in a small model's window; the grammar and
    validation hold the rest). An optional value's `anyOf [X, null]` shows as X."""
    if isinstance(schema, list):
        return [compact(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    alts = schema.get("anyOf")
    if isinstance(alts, list) and len(alts) == 2 and {"type": "null"} in alts:
        other = next(a for a in alts if a != {"type": "null"})
        return compact({**{k: v for k, v in schema.items() if k != "anyOf"}, **other})
    out = {}
    for k, v in schema.items():
        if k not in SHOWN:
            continue
        if k in ("properties", "$defs"):
            out[k] = {name: compact(sub) for name, sub in v.items()}
        elif k in ("items", "anyOf", "oneOf"):
            out[k] = compact(v)
        else:
            out[k] = v
    if out.get("type") == "object" and "properties" in out:
        del out["type"]  # implied by properties
    return out


def check(schema: Any, where: str = "parameters") -> None:
    """Refuse with EINVAL what is not a valid JSON Schema or cannot become a grammar."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema if isinstance(schema, dict) else {}).check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise refuse(f"{where}/{path}".rstrip("/"), f"not a valid JSON Schema: {exc.message}") from None
    defs: dict = {}
    body = bounded(schema, defs=defs, where=where)
    to_gbnf({"$defs": defs, **body} if defs else body)


_converter = None


def _json_schema_to_gbnf():
    """llama-cpp-python's converter module (llama_cpp/llama_grammar.py, pure Python), loaded on
    its own: importing it through the package would load the llama.cpp library, which a
    kernel that only registers tools (every CLI command) should not pay for."""
    global _converter
    if _converter is None:
        import importlib.util

        pkg = importlib.util.find_spec("llama_cpp")
        if pkg is None or not pkg.submodule_search_locations:
            raise SyscallError(Errno.EIO, "llama-cpp-python is not installed; run `make run` (or pip install it)")
        path = f"{list(pkg.submodule_search_locations)[0]}/llama_grammar.py"
        spec = importlib.util.spec_from_file_location("llmos_llama_grammar", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _converter = module.json_schema_to_gbnf
    return _converter


def to_gbnf(schema: dict, prop_order: list[str] | None = None) -> str:
    """llama.cpp's converter on a bounded schema; its failures become one EINVAL line."""
    json_schema_to_gbnf = _json_schema_to_gbnf()
    try:
        text = json_schema_to_gbnf(json.dumps(schema), prop_order)
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise SyscallError(Errno.EINVAL, f"the schema cannot become a grammar: {exc}") from None
    # JSON strings may not hold raw control characters; the converter's `char` allows them.
    return text.replace('char ::= [^"\\\\]', 'char ::= [^"\\\\\\x00-\\x1F\\x7F]')
