"""`llmos tool list [--json]`: every tool, its app and its JSON Schema (the REPL has /tools)."""

from __future__ import annotations

from .registry import command


def _args(p) -> None:
    p.add_argument("action", nargs="?", choices=["list"], default="list")
    p.add_argument("--json", action="store_true", help="each tool with its app and JSON Schema")


@command("tool", "list the tools apps and plugins registered", args=_args, usage="list [--json]", where=("cli",))
def tool(env, ns) -> int:
    return _list(env, ns.json)


def _list(env, as_json: bool) -> int:
    k = env.k
    tools = k.tools.all()
    if as_json:
        env.out.json([t.info() for t in tools])
        return 0
    rows = []
    for t in tools:
        props = t.parameters.get("properties", {})
        required = set(t.parameters.get("required", []))
        rows.append([t.name, t.app, " ".join(n if n in required else f"[{n}]" for n in props), t.description])
    env.out.table(["TOOL", "APP", "PARAMETERS", "DESCRIPTION"], rows)
    for problem in getattr(k, "app_problems", []):
        env.out.line(f"llmos: {problem}")
    return 0
