"""`llmos mcp`: serve an app's grants to MCP hosts, and mount MCP servers' tools as llmos tools."""

from __future__ import annotations

import contextlib
import json
import sys

from ..syscalls.errno import Errno, SyscallError
from .registry import command


def _args(p) -> None:
    p.description = "llmos mcp serve [--app NAME] [--http] | add NAME -- COMMAND ARGS... | list | remove NAME"
    p.add_argument("action", choices=["serve", "add", "list", "remove"])
    p.add_argument("name", nargs="?", help="the mounted server's name (add, remove)")
    p.add_argument("server_command", nargs="*", metavar="-- COMMAND ARGS",
                   help="add: how to start the server (stdio)")
    p.add_argument("--app", default="agent", help="serve: expose what this app is granted (default agent)")
    p.add_argument("--http", action="store_true", help="serve: streamable HTTP at /mcp instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="serve --http: address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8001, help="serve --http: port (default 8001)")
    p.add_argument("--json", action="store_true", help="list: as JSON")


@command("mcp", "MCP: serve llmos's tools, or mount an MCP server's", args=_args, where=("cli",))
def mcp(env, ns) -> int:
    k = env.k
    if ns.action == "serve":
        return _serve(k, ns)
    if ns.action == "list":
        servers = k.mcp.list()
        if ns.json:
            print(json.dumps(servers, indent=2))
            return 0
        if not servers:
            print("no MCP servers mounted (llmos mcp add NAME -- COMMAND ARGS...)")
        for name, entry in servers.items():
            print(f"{name:<12} {' '.join(entry['command'])}")
            for t in entry.get("tools", []):
                print(f"{'':<12} mcp.{name}.{t['name']:<24} {(t.get('description') or '')[:60]}")
        return 0
    if not ns.name:
        raise SyscallError(Errno.EINVAL, f"name the server: llmos mcp {ns.action} NAME" +
                           (" -- COMMAND ARGS..." if ns.action == "add" else ""))
    if ns.action == "remove":
        k.mcp.remove(ns.name)
        print(f"unmounted {ns.name}")
        return 0
    command = ns.server_command[1:] if ns.server_command[:1] == ["--"] else ns.server_command
    tools = k.mcp.add(ns.name, command)
    print(f"mounted {ns.name}: {', '.join(tools) or 'no tools'} (grant them as tool.call:mcp.{ns.name}.*)")
    for line in k.mcp.problems:
        print(f"llmos: EINVAL: left out {line}", file=sys.stderr)
    return 0


def _serve(k, ns) -> int:
    import anyio

    from ..apps.mcp_server import Granted, build_server

    session = Granted(k, ns.app)
    server = build_server(k, session)
    try:
        if ns.http:
            _http(server, ns)
        else:
            from mcp.server.stdio import stdio_server

            async def main():
                async with stdio_server() as (r, w):
                    await server.run(r, w, server.create_initialization_options())

            anyio.run(main)
    finally:
        session.end()
    return 0


def _http(server, ns) -> None:
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    manager = StreamableHTTPSessionManager(app=server)

    class Handle:  # an ASGI app (not a request handler) for Route
        async def __call__(self, scope, receive, send):
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with manager.run():
            yield

    web = Starlette(routes=[Route("/mcp", endpoint=Handle(), methods=["GET", "POST", "DELETE"])], lifespan=lifespan)
    print(f"llmos: serving MCP at http://{ns.host}:{ns.port}/mcp (app {ns.app})", file=sys.stderr, flush=True)
    uvicorn.run(web, host=ns.host, port=ns.port, log_level="warning")

