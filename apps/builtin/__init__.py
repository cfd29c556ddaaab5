"""The built-in apps, registered through the same `llmos.apps` entry points as any other."""

from __future__ import annotations

from ..sdk import App

agent = App({
    "name": "agent",
    "description": "A general assistant: works with files in its workspace, uses tools, remembers.",
    "capabilities": ["fs.*", "tool.call", "tool.list", "sys.time", "sys.info", "mem.*", "proc.*"],
    # What a new user can do without being asked: everything but deleting files and processes.
    "default_grants": ["fs.read", "fs.list", "fs.stat", "fs.write", "fs.append", "fs.mkdir",
                       "tool.call", "sys.time", "mem.*"],
})

api = App({
    "name": "api",
    "description": "Requests to `llmos serve`'s OpenAI-compatible API from loopback clients without a key.",
    "capabilities": ["llm.*", "sys.info", "sys.time"],
    "default_grants": ["llm.chat", "llm.complete", "llm.tokenize", "sys.info", "sys.time"],
})
