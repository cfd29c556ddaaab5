"""tool.*: registered tools, validated at registration, scoped by name."""

from __future__ import annotations

from typing import Literal

import pytest
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.tool import Tool
from pydantic import BaseModel, Field


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


WEATHER = {"name": "weather.now", "description": "Current weather in a city.",
           "parameters": {"type": "object", "properties": {
               "city": {"type": "string", "description": "the city"},
               "unit": {"enum": ["celsius", "fahrenheit"], "default": "celsius"}}, "required": ["city"]}}


def test_a_tool_from_a_json_schema(kernel):
    seen = []
    kernel.tools.add(Tool.from_schema(WEATHER, lambda args: seen.append(args) or {"temp": 21}, app="demo"))
    r = kernel.call("tool.call", {"name": "weather.now", "args": {"city": "Porto"}})
    assert r.result == {"temp": 21} and seen == [{"city": "Porto"}]
    with pytest.raises(SyscallError) as e:  # validated against the schema: unit not in the enum
        kernel.call("tool.call", {"name": "weather.now", "args": {"city": "Porto", "unit": "kelvin"}})
    assert e.value.code == Errno.EINVAL and "unit" in e.value.message
    wrapped = Tool.from_schema({"type": "function", "function": {**WEATHER, "name": "weather.alt"}}, dict, app="demo")
    assert kernel.tools.add(wrapped).name == "weather.alt"


def test_a_tool_from_type_hints_and_from_a_pydantic_model(kernel):
    def convert(amount: float, to: Literal["EUR", "USD"] = "EUR") -> float:
        """Convert an amount of money.

        More detail the model need not see."""
        return amount * (2 if to == "USD" else 1)

    t = kernel.tools.add(Tool.from_function(convert))
    assert t.description == "Convert an amount of money." and t.parameters["required"] == ["amount"]
    assert kernel.call("tool.call", {"name": "convert", "args": {"amount": 3, "to": "USD"}}).result == 6

    class Point(BaseModel):
        """A point on a map."""
        x: int
        y: int = Field(0, description="north")

    kernel.tools.add(Tool.from_model(Point, lambda p: p.x + p.y, name="map.sum"))
    assert kernel.call("tool.call", {"name": "map.sum", "args": {"x": 2, "y": 3}}).result == 5
    with pytest.raises(SyscallError) as e:
        kernel.call("tool.call", {"name": "map.sum", "args": {"x": "two"}})
    assert e.value.code == Errno.EINVAL


def test_replace_remove_and_ownership(kernel):
    kernel.tools.add(Tool.from_schema(WEATHER, lambda a: 1, app="demo"))
    kernel.tools.add(Tool.from_schema(WEATHER, lambda a: 2, app="demo"))  # the same app re-registers: replaced
    assert kernel.call("tool.call", {"name": "weather.now", "args": {"city": "x"}}).result == 2
    with pytest.raises(SyscallError) as e:
        kernel.tools.add(Tool.from_schema(WEATHER, lambda a: 3, app="other"))
    assert e.value.code == Errno.EEXIST and "demo" in e.value.message
    assert kernel.tools.remove_app("demo") == ["weather.now"]
    with pytest.raises(SyscallError) as e:
        kernel.tools.remove("weather.now")
    assert e.value.code == Errno.ENOENT


@pytest.mark.parametrize("spec,why", [
    ({"name": "bad name!", "description": "x", "parameters": {"type": "object"}}, "tool name"),
    ({"name": "x" * 65, "description": "x", "parameters": {"type": "object"}}, "tool name"),
    ({"name": "fs.read", "description": "x", "parameters": {"type": "object"}}, "syscall"),
    ({"name": "t", "description": "", "parameters": {"type": "object"}}, "description"),
    ({"name": "t", "description": "x", "parameters": {"type": "string"}}, "type object"),
    ({"name": "t", "description": "x", "parameters": {"type": "object", "properties": {"a": {"not": {}}}}}, "not"),
    ({"name": "t", "description": "x", "parameters": {"type": "object", "properties": {"a": {"type": 5}}}},
     "not a valid JSON Schema"),
])
def test_bad_tools_are_refused_at_registration_in_one_line(kernel, spec, why):
    with pytest.raises(SyscallError) as e:
        kernel.tools.add(Tool.from_schema(spec, dict))
    assert why in e.value.message and "\n" not in e.value.message


def test_names_may_have_dots_and_results_must_be_json(kernel):
    kernel.tools.add(Tool.from_function(lambda: object(), name="math.weird", description="returns an object"))
    r = kernel.call("tool.call", {"name": "math.weird", "args": {}})
    assert isinstance(r.result, str)  # made JSON (its repr) rather than failing later


def test_calculator_result_too_large_is_einval(kernel):
    """Found by test_fuzz: an OverflowError came back as EIO "failed inside the kernel"."""
    for expression in ("(999999**99)/(1)", "999999**99*1.0"):
        with pytest.raises(SyscallError) as info:
            kernel.call("tool.call", {"name": "calculator", "args": {"expression": expression}})
        assert info.value.code == Errno.EINVAL and "too large" in info.value.message
