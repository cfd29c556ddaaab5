"""`llmos mcp serve`: what an app is granted, as MCP tools (the `mcp` SDK's low-level server).

A session is one process of the app (`--app`, default agent) with the app's grants: the MCP
tools are the syscalls and llmos tools those grants cover, each with its JSON Schema, and
every call is that process's syscall through the dispatcher, so it is validated,
capability-checked and journaled under its pid. A failed call is an MCP tool error whose text
is the errno line.
"""

from __future__ import annotations

import json

from ..kernel.process import ExitStatus, ProcState
from ..syscalls.errno import SyscallError
from ..syscalls.table import TABLE
from .launch import capabilities
from .registry import find

HIDDEN = ("tool.call",)  # tools are offered under their own names


class Granted:
    """The process an MCP session runs as, and what it may call."""

    def __init__(self, kernel, app_name: str):
        self.k = kernel
        app = find(kernel.home, app_name)
        self.proc = kernel.spawn(task=f"MCP session of {app.name}", caps=capabilities(kernel, app), app=app.name)
        kernel.procs.set_state(self.proc.pid, ProcState.RUNNING)

    def tools(self) -> list[dict]:
        caps = self.proc.capset
        out = [{"name": n, "description": TABLE[n].doc, "schema": TABLE[n].args_schema()}
               for n in caps.names_allowed(sorted(TABLE)) if n not in HIDDEN]
        out += [{"name": t.name, "description": t.description, "schema": t.parameters} for t in self.k.tools.granted(caps)]
        return out

    def call(self, name: str, args: dict) -> dict:
        """The syscall or tool `name` as this session's process; raises SyscallError."""
        k, p = self.k, self.proc
        ctx = k.context(pid=p.pid, caps=p.capset, workspace=p.workspace)
        if name in TABLE:
            return k.dispatcher.dispatch(ctx, name, args).model_dump(mode="json")
        result = k.dispatcher.dispatch(ctx, "tool.call", {"name": name, "args": args}).model_dump(mode="json")
        return result["result"]

    def end(self) -> None:
        self.k.procs.finish(self.proc.pid, ProcState.EXITED, ExitStatus.OK, "MCP session ended")


def build_server(kernel, session: Granted):
    """An MCP low-level Server over `session`; calls run on worker threads under the kernel's lock."""
    import anyio
    import mcp.types as types
    from mcp.server.lowlevel import Server

    server = Server("llmos")

    def locked(name: str, args: dict):
        kernel.router.tls.bkl = True  # the scheduler lets go of it while it decodes
        with kernel.router.bkl:
            return session.call(name, args)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [types.Tool(name=t["name"], description=t["description"], inputSchema=t["schema"])
                for t in session.tools()]

    @server.call_tool(validate_input=False)  # the dispatcher validates, with llmos's errno lines
    async def call_tool(name: str, arguments: dict | None):
        try:
            result = await anyio.to_thread.run_sync(locked, name, arguments or {})
        except SyscallError as err:
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"{err.code}: {err.message}")],
                                        isError=True)
        text = json.dumps(result, ensure_ascii=False)
        structured = result if isinstance(result, dict) else {"result": result}
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structuredContent=structured)

    return server
