"""MCP both ways with real processes: the SDK's client against `llmos mcp serve` (stdio and
streamable HTTP), and llmos mounting a small MCP server written with the SDK."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from llmos.kernel import Kernel
from llmos.shell.cli import main
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import SyscallError
from servers import free_port, running

ECHO = [sys.executable, str(Path(__file__).with_name("mcp_echo_server.py"))]
LLMOS = [sys.executable, "-m", "llmos.shell.cli"]


def _env(home: Path) -> dict:
    return {**os.environ, "LLMOS_HOME": str(home)}


async def _use(session):
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    t = await session.call_tool("sys.time", {})
    calc = await session.call_tool("calculator", {"expression": "17*23"})
    denied = await session.call_tool("fs.remove", {"path": "x"})
    bad = await session.call_tool("calculator", {"expr": "1"})
    return tools, t, calc, denied, bad


def _check(home: Path, got) -> None:
    tools, t, calc, denied, bad = got
    assert "sys.time" in tools and "calculator" in tools and "fs.read" in tools
    assert "fs.remove" not in tools and "tool.call" not in tools  # not granted to agent; tools by name
    assert tools["fs.read"].inputSchema["properties"]["path"]
    assert not t.isError and "iso" in t.structuredContent
    assert not calc.isError and calc.structuredContent == {"result": 391}
    assert denied.isError and denied.content[0].text.startswith("EACCES")
    assert bad.isError and bad.content[0].text.startswith("EINVAL")
    with Kernel.boot(home) as k:  # every call went through the dispatcher into the journal
        rows = k.journal.tail(10)
        # the agent's first use granted its defaults: journaled as root's sys.grant, before its calls
        assert [(r["pid"], r["name"]) for r in rows[:1]] == [(0, "sys.grant")]
        rows = rows[1:]
        assert [r["name"] for r in rows] == ["sys.time", "tool.call", "fs.remove", "tool.call"]
        assert len({r["pid"] for r in rows}) == 1 and rows[0]["pid"] > 0
        assert k.procs.get(rows[0]["pid"]).app == "agent"


def test_the_sdk_client_lists_and_calls_llmos_over_stdio(home):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def run():
        params = StdioServerParameters(command=LLMOS[0], args=[*LLMOS[1:], "mcp", "serve"], env=_env(home))
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            return await _use(s)

    _check(home, anyio.run(run))


def test_the_sdk_client_over_streamable_http(home, tmp_path):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"

    async def run():
        async with streamable_http_client(url) as (r, w, _), ClientSession(r, w) as s:
            return await _use(s)

    args = [*LLMOS, "mcp", "serve", "--http", "--port", str(port)]
    # any answer (405 on GET without a session is fine) means it is up
    with running(args, f"http://127.0.0.1:{port}/", tmp_path / "mcp.log", env={"LLMOS_HOME": str(home)}):
        got = anyio.run(run)
    _check(home, got)


def test_mount_an_mcp_server_as_granted_journaled_tools(home, capsys):
    assert main(["mcp", "add", "echo", "--", *ECHO]) == 0
    out = capsys.readouterr().out
    assert "mcp.echo.add" in out and "mcp.echo.shout" in out
    assert main(["mcp", "list"]) == 0 and "mcp.echo.add" in capsys.readouterr().out
    assert main(["mcp", "add", "echo", "--", *ECHO]) == 17  # EEXIST
    assert "llmos: EEXIST" in capsys.readouterr().err

    with Kernel.boot() as k:
        assert not k.mcp.servers  # registered at boot, started on demand
        assert k.call("tool.call", {"name": "mcp.echo.add", "args": {"a": 2, "b": 3}}).result == 5
        server = k.mcp.servers["echo"]
        assert server.alive
        with pytest.raises(SyscallError) as e:
            k.call("tool.call", {"name": "mcp.echo.add", "args": {"a": "two"}})
        assert e.value.code == "EINVAL"  # checked against its schema before the server sees it
        # granted like any tool
        p = k.spawn(task="t", caps=CapSet.parse(["tool.call:mcp.echo.shout"]))
        ctx = k.context(pid=p.pid, caps=p.capset)
        assert k.call("tool.call", {"name": "mcp.echo.shout", "args": {"text": "hi"}}, ctx=ctx).result == "HI"
        with pytest.raises(SyscallError) as e:
            k.call("tool.call", {"name": "mcp.echo.add", "args": {"a": 1, "b": 1}}, ctx=ctx)
        assert e.value.code == "EACCES"
        # a server that dies is EIO, not a hang; the next call starts it again
        with pytest.raises(SyscallError) as e:
            k.call("tool.call", {"name": "mcp.echo.crash"})
        assert e.value.code == "EIO" and "echo" in e.value.message
        assert k.call("tool.call", {"name": "mcp.echo.add", "args": {"a": 1, "b": 1}}).result == 2
        names = [r["name"] for r in k.journal.tail(20)]
        assert names.count("tool.call") >= 5
    assert not server.alive  # stopped with the kernel

    assert main(["mcp", "remove", "echo"]) == 0
    with Kernel.boot() as k:
        assert k.tools.get("mcp.echo.add") is None


def test_a_process_calls_a_mounted_tool(home, scripted):
    with Kernel.boot() as k:
        k.mcp.add("echo", ECHO)
    scripted.queue('<tool_call>[\n{"name": "mcp.echo.add", "arguments": {"a": 20, "b": 22}}\n]</tool_call>', "42")
    with Kernel.boot(driver=scripted) as k:
        p = k.spawn(task="add", caps=CapSet.parse(["tool.call:mcp.echo.*"]))
        steps = list(k.run(p.pid))
        assert [s.type for s in steps] == ["action", "observation", "action", "reply"]
        assert steps[1].ok and steps[1].result == 42
        assert '"mcp.echo.add"' in scripted.prompts[0]  # offered to the model with its schema


def test_mcp_mistakes_are_one_line(home, capsys):
    assert main(["mcp", "remove", "nope"]) == 2
    assert main(["mcp", "add", "Bad Name", "--", "x"]) == 22
    assert main(["mcp", "add", "ghost", "--", sys.executable, "-c", "import sys; sys.exit(1)"]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in err] == ["ENOENT", "EINVAL", "EIO"]
