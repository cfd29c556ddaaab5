"""The built-in tools, registered as a plugin (entry point `llmos` -> this module) like any other."""

from __future__ import annotations

import ast
import operator

from pydantic import Field

from ..drivers.plugins import hookimpl
from .errno import Errno, SyscallError
from .spec import Args
from .tool import Tool

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


def calculator(a: CalcArgs):
    expr = a.expression.replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        value = _eval(ast.parse(expr, mode="eval"))
    except ZeroDivisionError:
        raise SyscallError(Errno.EINVAL, "division by zero") from None
    except OverflowError:
        raise SyscallError(Errno.EINVAL, f"{a.expression!r} is too large to compute; use smaller numbers") from None
    except (SyntaxError, ValueError, TypeError) as exc:
        raise SyscallError(Errno.EINVAL, f"cannot evaluate {a.expression!r}: {exc}") from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return value



@hookimpl
def register_tools(register):
    register(Tool.from_model(CalcArgs, calculator, name="calculator",
                             description="Evaluate arithmetic exactly, e.g. 17*23 or (2+3)/4."))
