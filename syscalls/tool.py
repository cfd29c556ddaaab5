"""tool.*: registered Python tools. A tool is validated when it is registered, not when called.

Apps (and later MCP servers) add tools with `register_tool`; `tool.call:NAME` grants one tool.
The model sees one grammar alternative per tool, so even tool arguments are well-formed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field, ValidationError

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


def register_tool(name: str, doc: str, args: type[Args], example: dict):
    def deco(fn):
        if name in TOOLS:
            raise ValueError(f"tool {name} registered twice")
        args.model_validate(example)  # a tool whose own example is invalid is a bug: fail at import
        TOOLS[name] = Tool(name, doc, args, fn, example)
        return fn

    return deco


# -- built-in tools -------------------------------------------------------------------------

_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}


def _eval(node):
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 100 or abs(left) > 10**6):
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError("only numbers, + - * / // % ** and parentheses are allowed")


class CalcArgs(Args):
    expression: str = Field(description="arithmetic, e.g. 17*23 or (2+3)/4", max_length=200)


@register_tool("calculator", "Evaluate arithmetic exactly.", CalcArgs, {"expression": "17*23"})
def calculator(a: CalcArgs):
    expr = a.expression.replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        value = _eval(ast.parse(expr, mode="eval"))
    except ZeroDivisionError:
        raise SyscallError(Errno.EINVAL, "division by zero") from None
    except (SyntaxError, ValueError, TypeError) as exc:
        raise SyscallError(Errno.EINVAL, f"cannot evaluate {a.expression!r}: {exc}") from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return value


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
    visible = [t for t in TOOLS.values() if ctx.caps.allows("tool.call", t.name)]
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
    for t in sorted(TOOLS.values(), key=lambda t: t.name):
        if granted is None or granted(t.name):
            alts.append({"type": "object", "additionalProperties": False, "required": ["name", "args"],
                         "properties": {"name": {"const": t.name}, "args": t.args.model_json_schema()}})
    return {"anyOf": alts} if alts else {"type": "object", "properties": {}, "additionalProperties": False}


@syscall("tool.call", args=CallArgs, result=CallResult, scope=lambda a: a.name,
         examples=({"name": "calculator", "args": {"expression": "17*23"}},), model_schema=call_schema)
def tool_call(ctx: CallContext, a: CallArgs) -> CallResult:
    """Call a registered tool by name with its arguments."""
    tool = TOOLS.get(a.name)
    if tool is None:
        raise SyscallError(Errno.ENOENT, f"no tool named {a.name!r}; tool.list shows the tools you may call")
    try:
        args = tool.args.model_validate(a.args)
    except ValidationError as exc:
        raise SyscallError(Errno.EINVAL, explain_validation(f"tool {a.name}", exc)) from None
    return CallResult(name=a.name, result=tool.fn(args))
