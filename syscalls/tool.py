"""tool.*: registered Python tools. A tool is validated when it is registered, not when called.

Apps (and later MCP servers) add tools with `register_tool`; `tool.call:NAME` grants one tool.
The model sees one grammar alternative per tool, so even tool arguments are well-formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field, ValidationError

from ..drivers.plugins import collect
from .context import CallContext
from .dispatch import explain_validation
from .errno import Errno, SyscallError
from .spec import Args, Result, syscall


@dataclass(frozen=True)
class Tool:
    name: str
    doc: str
    args: type[Args]
    fn: Callable[[Args], object]
    example: dict


TOOLS: dict[str, Tool] = {}
_loaded = False


def add_tool(tool: Tool) -> None:
    if tool.name in TOOLS:
        raise ValueError(f"tool {tool.name} registered twice")
    tool.args.model_validate(tool.example)  # a tool whose own example is invalid is a bug
    TOOLS[tool.name] = tool


def tools() -> dict[str, Tool]:
    """Every registered tool, the plugins' (register_tools hook) loaded on first use."""
    global _loaded
    if not _loaded:
        _loaded = True
        for tool in collect("register_tools"):
            add_tool(tool)
    return TOOLS


def register_tool(name: str, doc: str, args: type[Args], example: dict):
    def deco(fn):
        add_tool(Tool(name, doc, args, fn, example))
        return fn

    return deco


# -- syscalls -------------------------------------------------------------------------------


class NoArgs(Args):
    pass


class ToolInfo(Result):
    name: str
    doc: str
    args: dict
    example: dict


class ListResult(Result):
    tools: list[ToolInfo]


@syscall("tool.list", args=NoArgs, result=ListResult)
def tool_list(ctx: CallContext, a: NoArgs) -> ListResult:
    """List the tools this process may call."""
    visible = [t for t in tools().values() if ctx.caps.allows("tool.call", t.name)]
    return ListResult(tools=[ToolInfo(name=t.name, doc=t.doc, args=t.args.model_json_schema(), example=t.example)
                             for t in sorted(visible, key=lambda t: t.name)])


class CallArgs(Args):
    name: str = Field(description="the tool's name (see tool.list)", max_length=64)
    args: dict = Field(default_factory=dict, description="the tool's arguments")


class CallResult(Result):
    name: str
    result: object


def call_schema(granted: Callable[[str], bool] | None = None) -> dict:
    """The schema the model sees for tool.call: one alternative per (granted) tool."""
    alts = []
    for t in sorted(tools().values(), key=lambda t: t.name):
        if granted is None or granted(t.name):
            alts.append({"type": "object", "additionalProperties": False, "required": ["name", "args"],
                         "properties": {"name": {"const": t.name}, "args": t.args.model_json_schema()}})
    return {"anyOf": alts} if alts else {"type": "object", "properties": {}, "additionalProperties": False}


@syscall("tool.call", args=CallArgs, result=CallResult, scope=lambda a: a.name,
         examples=({"name": "calculator", "args": {"expression": "17*23"}},), model_schema=call_schema)
def tool_call(ctx: CallContext, a: CallArgs) -> CallResult:
    """Call a registered tool by name with its arguments."""
    tool = tools().get(a.name)
    if tool is None:
        raise SyscallError(Errno.ENOENT, f"no tool named {a.name!r}; tool.list shows the tools you may call")
    try:
        args = tool.args.model_validate(a.args)
    except ValidationError as exc:
        raise SyscallError(Errno.EINVAL, explain_validation(f"tool {a.name}", exc)) from None
    return CallResult(name=a.name, result=tool.fn(args))
