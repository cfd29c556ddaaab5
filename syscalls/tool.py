"""tool.*: tools, from any JSON Schema, Python type hints or a pydantic model.

A tool is checked when it is registered, not when it is called: its name, that its parameters
are a valid JSON Schema, and that the action grammar can be built from them (schema.py) --
else one EINVAL line saying which part cannot be expressed. Tools belong to the app that
registered them (`builtin` for the plugins'); an app that registers a name again replaces its
own tool, another app's is EEXIST. The model calls a tool by its name like a syscall; the
kernel makes that a `tool.call`, so `tool.call:NAME` grants it and the journal shows it.

    kernel.tools.add(Tool.from_schema({"name": "weather.now", "description": "...",
                                       "parameters": {...}}, fn))   # fn(args: dict)
    kernel.tools.add(Tool.from_function(convert))                  # type hints -> schema
    kernel.tools.add(Tool.from_model(Order, place_order))          # fn(order: Order)
"""

from __future__ import annotations

import inspect
import json
import re
import threading
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model

from .context import CallContext
from .errno import Errno, SyscallError
from .schema import check
from .spec import Args, Result, syscall

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _schema_of(model: type[BaseModel]) -> dict:
    s = model.model_json_schema()
    s.pop("title", None)
    return s


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict  # a JSON Schema of the arguments object
    call: Callable[[dict], Any] = field(repr=False)  # takes the validated arguments
    app: str = "builtin"

    # -- three ways to make one ------------------------------------------------------------

    @classmethod
    def from_schema(cls, spec: dict, fn: Callable[[dict], Any], *, app: str = "builtin") -> Tool:
        """From the OpenAI function format ({"name", "description", "parameters"}, or wrapped in
        {"type": "function", "function": {...}}); `fn` gets the arguments as one dict."""
        if not isinstance(spec, dict):
            raise SyscallError(Errno.EINVAL, "a tool is {\"name\", \"description\", \"parameters\": JSON Schema}")
        spec = spec.get("function", spec) if spec.get("type") == "function" else spec
        params = spec.get("parameters", {"type": "object", "properties": {}})
        return cls(str(spec.get("name", "")), str(spec.get("description", "")), params, _json_call(params, fn), app)

    @classmethod
    def from_function(cls, fn: Callable, *, name: str | None = None, description: str | None = None,
                      app: str = "builtin") -> Tool:
        """From a Python function's type hints and docstring; it is called with keyword arguments."""
        fields = {}
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except (NameError, TypeError) as exc:
            raise SyscallError(Errno.EINVAL, f"tool {fn.__name__}: its type hints do not resolve: {exc}") from None
        for pname, p in inspect.signature(fn).parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise SyscallError(Errno.EINVAL, f"tool {fn.__name__}: *args/**kwargs cannot be described as parameters")
            hint = hints.get(pname, Any)
            fields[pname] = (hint, ... if p.default is p.empty else p.default)
        model = create_model(f"{fn.__name__}_args", __config__={"extra": "forbid"}, **fields)
        doc = description if description is not None else (inspect.getdoc(fn) or "").split("\n\n")[0]
        return cls(name or fn.__name__, " ".join(doc.split()), _schema_of(model),
                   _model_call(model, lambda m: fn(**{k: getattr(m, k) for k in type(m).model_fields})), app)

    @classmethod
    def from_model(cls, model: type[BaseModel], fn: Callable[[BaseModel], Any], *, name: str | None = None,
                   description: str | None = None, app: str = "builtin") -> Tool:
        """From a pydantic model of the arguments; `fn` gets a validated instance."""
        doc = description if description is not None else (model.__doc__ or "")
        return cls(name or model.__name__.lower(), " ".join(doc.split()), _schema_of(model), _model_call(model, fn), app)

    def info(self) -> dict:
        return {"name": self.name, "description": self.description, "parameters": self.parameters, "app": self.app}


def _json_call(schema: dict, fn: Callable[[dict], Any]) -> Callable[[dict], Any]:
    def call(args: dict) -> Any:
        import jsonschema

        try:
            jsonschema.validate(args, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(arguments)"
            raise SyscallError(Errno.EINVAL, f"bad arguments at {where}: {exc.message}") from None
        return fn(args)

    return call


def _model_call(model: type[BaseModel], fn: Callable[[BaseModel], Any]) -> Callable[[dict], Any]:
    from .dispatch import explain_validation

    def call(args: dict) -> Any:
        try:
            m = model.model_validate(args)
        except ValidationError as exc:
            raise SyscallError(Errno.EINVAL, explain_validation("the tool", exc)) from None
        return fn(m)

    return call


class ToolRegistry:
    """A kernel's tools by name (thread-safe)."""

    def __init__(self, reserved: set[str] = frozenset()):
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        self.reserved = set(reserved)  # syscall names: a tool may not shadow one

    def add(self, tool: Tool) -> Tool:
        """Check and register `tool` (replacing its own app's tool of that name)."""
        if not isinstance(tool, Tool):
            raise SyscallError(Errno.EINVAL, f"not a Tool: {tool!r}; make one with Tool.from_schema/from_function")
        if not NAME.match(tool.name):
            raise SyscallError(Errno.EINVAL, f"tool name {tool.name!r}: use 1-64 letters, digits, _ . - "
                                             "(starting with a letter or _)")
        if tool.name in self.reserved or tool.name in ("reply", "exit"):
            raise SyscallError(Errno.EEXIST, f"tool name {tool.name!r} is a syscall's; choose another")
        if not tool.description.strip():
            raise SyscallError(Errno.EINVAL, f"tool {tool.name}: give it a description (the model reads it)")
        params = tool.parameters
        if not isinstance(params, dict) or params.get("type", "object") != "object":
            raise SyscallError(Errno.EINVAL, f"tool {tool.name}: parameters must be a JSON Schema of type object")
        try:
            check(params)
        except SyscallError as err:
            raise SyscallError(Errno.EINVAL, f"tool {tool.name}: {err.message}") from None
        with self._lock:
            old = self._tools.get(tool.name)
            if old is not None and old.app != tool.app:
                raise SyscallError(Errno.EEXIST, f"tool {tool.name!r} belongs to app {old.app!r}; choose another name")
            self._tools[tool.name] = tool
        return tool

    def remove(self, name: str) -> Tool:
        with self._lock:
            tool = self._tools.pop(name, None)
        if tool is None:
            raise SyscallError(Errno.ENOENT, f"no tool named {name!r}; `llmos tool list` shows them")
        return tool

    def remove_app(self, app: str) -> list[str]:
        with self._lock:
            gone = [n for n, t in self._tools.items() if t.app == app]
            for n in gone:
                del self._tools[n]
        return gone

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def all(self) -> list[Tool]:
        with self._lock:
            return sorted(self._tools.values(), key=lambda t: t.name)

    def granted(self, caps) -> list[Tool]:
        return [t for t in self.all() if caps.allows("tool.call", t.name)]


# -- syscalls -------------------------------------------------------------------------------


class ToolInfo(Result):
    name: str
    description: str
    parameters: dict
    app: str


class ListResult(Result):
    tools: list[ToolInfo]


class ListArgs(Args):
    about: str | None = Field(None, max_length=4000, description="only the tools this text is about (the "
                              "kernel's relevance check, as tool_choice auto uses it)")


@syscall("tool.list", args=ListArgs, result=ListResult, examples=({}, {"about": "what is 17 times 23?"}))
def tool_list(ctx: CallContext, a: ListArgs) -> ListResult:
    """List the tools this process may call, with their JSON Schemas."""
    tools = ctx.services.tools.granted(ctx.caps)
    if a.about is not None:
        tools = [t for t in tools if ctx.services.about(a.about, [(t.name, t.description)])]
    return ListResult(tools=[ToolInfo(**t.info()) for t in tools])


class CallArgs(Args):
    name: str = Field(description="the tool's name (see tool.list)", max_length=64)
    args: dict = Field(default_factory=dict, description="the tool's arguments")


class CallResult(Result):
    name: str
    result: object


@syscall("tool.call", args=CallArgs, result=CallResult, scope=lambda a: a.name,
         examples=({"name": "calculator", "args": {"expression": "17*23"}},))
def tool_call(ctx: CallContext, a: CallArgs) -> CallResult:
    """Call a registered tool by name with its arguments."""
    tool = ctx.services.tools.get(a.name)
    if tool is None:
        raise SyscallError(Errno.ENOENT, f"no tool named {a.name!r}; tool.list shows the tools you may call")
    result = tool.call(a.args)
    try:  # what comes back must be JSON (the model and the journal read it)
        result = json.loads(json.dumps(result, ensure_ascii=False, default=str))
    except (TypeError, ValueError) as exc:
        raise SyscallError(Errno.EIO, f"tool {a.name} returned something that is not JSON: {exc}") from None
    return CallResult(name=a.name, result=result)
