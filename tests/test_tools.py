"""tool.*: registered tools, validated at registration, scoped by name."""

from __future__ import annotations

import pytest
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.spec import Args
from llmos.syscalls.tool import register_tool


@pytest.mark.parametrize("expr,value", [("17*23", 391), ("(3+4)*5", 35), ("2^10", 1024), ("144/12", 12),
                                        ("7/2", 3.5), ("-5+2", -3), ("10 % 3", 1)])
def test_calculator(kernel, expr, value):
    r = kernel.call("tool.call", {"name": "calculator", "args": {"expression": expr}})
    assert r.result == value


@pytest.mark.parametrize("expr", ["__import__('os')", "1/0", "2**100000", "open('x')", "a+b", ""])
def test_calculator_refuses_anything_but_arithmetic(kernel, expr):
    with pytest.raises(SyscallError) as info:
        kernel.call("tool.call", {"name": "calculator", "args": {"expression": expr}})
    assert info.value.code == Errno.EINVAL


def test_unknown_tool_and_bad_tool_args(kernel):
    with pytest.raises(SyscallError) as info:
        kernel.call("tool.call", {"name": "shell", "args": {}})
    assert info.value.code == Errno.ENOENT
    with pytest.raises(SyscallError) as info:
        kernel.call("tool.call", {"name": "calculator", "args": {"code": "1"}})
    assert info.value.code == Errno.EINVAL and "expression" in info.value.message


def test_tool_scope_and_list(kernel):
    ctx = kernel.context(caps=CapSet.parse(["tool.list", "tool.call:other"]))
    assert kernel.call("tool.list", {}, ctx=ctx).tools == []
    with pytest.raises(SyscallError) as info:
        kernel.call("tool.call", {"name": "calculator", "args": {"expression": "1"}}, ctx=ctx)
    assert info.value.code == Errno.EACCES
    names = [t.name for t in kernel.call("tool.list", {}).tools]
    assert "calculator" in names


def test_a_tool_with_an_invalid_example_fails_at_registration():
    class A(Args):
        n: int

    with pytest.raises(ValueError):
        register_tool("broken", "never registered", A, {"n": "not a number"})(lambda a: a.n)


def test_calculator_result_too_large_is_einval(kernel):
    """Found by test_fuzz: an OverflowError came back as EIO "failed inside the kernel"."""
    for expression in ("(999999**99)/(1)", "999999**99*1.0"):
        with pytest.raises(SyscallError) as info:
            kernel.call("tool.call", {"name": "calculator", "args": {"expression": expression}})
        assert info.value.code == Errno.EINVAL and "too large" in info.value.message
