"""A small MCP server written with the SDK, for mounting in the tests (stdio)."""

from __future__ import annotations

import os

from mcp.server.fastmcp import FastMCP

mcp = FastMCP("echo")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@mcp.tool()
def shout(text: str) -> str:
    """The text in capitals."""
    return text.upper()


@mcp.tool()
def crash() -> str:
    """Exit the server at once (to test a server that dies)."""
    os._exit(3)


if __name__ == "__main__":
    mcp.run()
