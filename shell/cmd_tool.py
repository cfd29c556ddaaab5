"""Tool commands: `llmos tool list [--json]` (every tool, its app and its JSON Schema)."""

from __future__ import annotations

import json


def register(sub, common) -> None:
    p = sub.add_parser("tool", parents=[common], help="list the tools apps and plugins registered")
    p.add_argument("action", choices=["list"])
    p.add_argument("--json", action="store_true", help="each tool with its app and JSON Schema")


def tool(k, ns) -> int:
    tools = k.tools.all()
    if ns.json:
        print(json.dumps([t.info() for t in tools], indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(box=None, pad_edge=False)
    for col in ("TOOL", "APP", "PARAMETERS", "DESCRIPTION"):
        t.add_column(col)
    for tool_ in tools:
        props = tool_.parameters.get("properties", {})
        required = set(tool_.parameters.get("required", []))
        params = " ".join(n if n in required else f"[{n}]" for n in props)
        t.add_row(tool_.name, tool_.app, params, tool_.description)
    Console().print(t)
    for problem in getattr(k, "app_problems", []):
        print(f"llmos: {problem}")
    return 0


COMMANDS = {"tool": tool}
