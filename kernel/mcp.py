"""External MCP servers mounted as llmos tools: `mcp.NAME.TOOL`, granted and journaled like any tool.

`llmos mcp add NAME -- COMMAND ARGS...` starts the server once, lists its tools and keeps
them (with their JSON Schemas) in `$LLMOS_HOME/mcp.json`; every kernel registers them at boot
without starting anything. The server is started on the first call (stdio, the `mcp` SDK's
client on a thread of its own) and stopped with the kernel. A server that dies or does not
answer is EIO or ETIMEDOUT on the call in flight, never a hang; the next call starts it again.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from pathlib import Path

from ..syscalls.errno import Errno, SyscallError
from ..syscalls.tool import Tool, ToolRegistry

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
START_S = 30.0  # to start a server and list its tools
CALL_S = 60.0  # for one tool call


class Server:
    """One MCP server over stdio, its session kept open on an event loop in its own thread."""

    def __init__(self, name: str, command: list[str], env: dict | None = None):
        self.name, self.command, self.env = name, command, env
        self.loop: asyncio.AbstractEventLoop | None = None
        self.session = None
        self._stop: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.session is not None

    def start(self) -> None:
        with self._lock:
            if self.alive:
                return
            ready = threading.Event()
            self._error, self.session = None, None
            self._thread = threading.Thread(target=self._run, args=(ready,), name=f"llmos-mcp-{self.name}", daemon=True)
            self._thread.start()
            if not ready.wait(START_S) or self.session is None:
                self.stop()
                why = f": {self._error}" if self._error else f" in {START_S:.0f}s"
                raise SyscallError(Errno.EIO, f"MCP server {self.name} ({' '.join(self.command)}) did not start{why}; "
                                              f"check the command (`llmos mcp list`)")

    def _run(self, ready: threading.Event) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        async def main():
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            params = StdioServerParameters(command=self.command[0], args=self.command[1:], env=self.env)
            try:
                async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
                    await session.initialize()
                    self.session = session
                    ready.set()
                    await self._stop.wait()
            finally:
                self.session = None

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start() or the call in flight
            self._error = exc
        finally:
            self.session = None
            ready.set()

    def _do(self, make, timeout: float, what: str):
        """Run the coroutine `make(session)` on the server's loop; its result, or EIO/ETIMEDOUT."""
        self.start()
        session, loop = self.session, self.loop
        if session is None or loop is None:
            raise SyscallError(Errno.EIO, f"MCP server {self.name} is not running")
        fut = asyncio.run_coroutine_threadsafe(make(session), loop)
        try:
            return fut.result(timeout)
        except FutureTimeout:
            fut.cancel()
            raise SyscallError(Errno.ETIMEDOUT, f"MCP server {self.name} did not answer {what} in {timeout:.0f}s") from None
        except Exception as exc:
            self.stop()  # a broken session: the next call starts the server again
            raise SyscallError(Errno.EIO, f"MCP server {self.name} failed on {what}: {exc or type(exc).__name__}; "
                                          "it may have exited (the next call starts it again)") from None

    def tools(self) -> list[dict]:
        got = self._do(lambda s: s.list_tools(), START_S, "tools/list")
        return [{"name": t.name, "description": t.description or "", "parameters": t.inputSchema} for t in got.tools]

    def call(self, tool: str, args: dict):
        r = self._do(lambda s: s.call_tool(tool, args, read_timeout_seconds=timedelta(seconds=CALL_S)),
                     CALL_S + 5, tool)
        texts = [c.text for c in r.content if getattr(c, "type", None) == "text"]
        if r.isError:
            raise SyscallError(Errno.EIO, f"{self.name}.{tool}: {' '.join(texts) or 'the tool failed'}")
        if len(texts) == 1:  # the value itself (structuredContent may wrap it as {"result": ...})
            try:
                return json.loads(texts[0])
            except ValueError:
                return texts[0]
        return r.structuredContent if r.structuredContent is not None else texts

    def stop(self) -> None:
        loop, stop, thread = self.loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop has just closed
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)
        self.session = None


class Mounts:
    """The mounted MCP servers of a data directory, and their tools in a kernel's registry."""

    def __init__(self, home: Path, tools: ToolRegistry):
        self.file = home / "mcp.json"
        self.tools = tools
        self.servers: dict[str, Server] = {}
        self.problems: list[str] = []

    def _read(self) -> dict:
        try:
            data = json.loads(self.file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SyscallError(Errno.EIO, f"cannot read {self.file}: {exc}; fix or remove it") from None
        return data.get("servers", {}) if isinstance(data, dict) else {}

    def _write(self, servers: dict) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"servers": servers}, indent=1))
        tmp.replace(self.file)

    def list(self) -> dict:
        return self._read()

    def load(self) -> None:
        """Register every mounted server's tools (nothing is started)."""
        for name, entry in self._read().items():
            self._register(name, entry)

    def _server(self, name: str, entry: dict) -> Server:
        if name not in self.servers:
            self.servers[name] = Server(name, entry["command"], entry.get("env"))
        return self.servers[name]

    def _register(self, name: str, entry: dict) -> list[str]:
        added = []
        for t in entry.get("tools", []):
            full = f"mcp.{name}.{t['name']}"

            def call(args: dict, tool=t["name"]):
                return self._server(name, entry).call(tool, args)

            spec = {"name": full, "description": t.get("description") or f"{t['name']} (MCP server {name})",
                    "parameters": t.get("parameters") or {"type": "object", "properties": {}}}
            try:
                self.tools.add(Tool.from_schema(spec, call, app=f"mcp.{name}"))
                added.append(full)
            except SyscallError as err:
                self.problems.append(f"{full}: {err.message}")
        return added

    def add(self, name: str, command: list[str]) -> list[str]:
        """Mount a server: start it, list its tools, keep them; returns the llmos tool names."""
        if not NAME.match(name):
            raise SyscallError(Errno.EINVAL, f"MCP server name {name!r}: use 1-32 lowercase letters, digits, _ -")
        if not command:
            raise SyscallError(Errno.EINVAL, "give the server's command: llmos mcp add NAME -- COMMAND ARGS...")
        servers = self._read()
        if name in servers:
            raise SyscallError(Errno.EEXIST, f"an MCP server named {name} is mounted; `llmos mcp remove {name}` first")
        probe = Server(name, command)
        try:
            tools = probe.tools()
        finally:
            probe.stop()
        entry = {"command": command, "tools": tools}
        added = self._register(name, entry)
        servers[name] = entry
        self._write(servers)
        return added

    def remove(self, name: str) -> None:
        servers = self._read()
        if name not in servers:
            raise SyscallError(Errno.ENOENT, f"no MCP server named {name}; `llmos mcp list` shows them")
        del servers[name]
        self._write(servers)
        self.tools.remove_app(f"mcp.{name}")
        server = self.servers.pop(name, None)
        if server is not None:
            server.stop()

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
