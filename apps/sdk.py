"""The app SDK: a manifest (name, what it does, the capabilities it asks for) and an App.

An agent app is driven by the model through the kernel loop; a code app is a Python function
`main(sys, task)` that makes syscalls itself through `sys` (stubs bound to its process, so its
grants and workspace apply: `sys.fs.read(path=...)`, `sys.llm.chat(messages=[...])`) and
returns its reply. A code app that converses also has a `turn(sys, text, **options)`: the shell
keeps one process of it for a session and hands it each line (apps/launch.py: Session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..syscalls.caps import Capability
from ..syscalls.tool import Tool


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    description: str = Field(min_length=1, max_length=200)
    capabilities: list[str] = Field(default_factory=list, description="what the app asks for")
    default_grants: list[str] = Field(default_factory=list,
                                      description="granted on first use; honoured for built-in apps only")
    kind: Literal["agent", "code"] = "agent"
    version: str | None = Field(None, max_length=40, description="default: its package's version")
    workspace: Literal["own", "shared"] = Field(
        "own", description="own: a fresh folder per run; shared: the user's workspace")
    max_steps: int | None = Field(None, ge=1, le=1000)
    max_tokens: int | None = Field(None, ge=1)

    @field_validator("capabilities", "default_grants")
    @classmethod
    def _caps(cls, v: list[str]) -> list[str]:
        for c in v:
            Capability.parse(c)  # raises ValueError with what is wrong
        return v


class App:
    """An app: its manifest, a `main(sys, task)` for a code app (and a `turn(sys, text, **options)`
    if it converses), and the tools it brings (each a Tool, or a plain function made one from its
    type hints and docstring)."""

    def __init__(self, manifest: Manifest | dict, main: Callable | None = None, tools: list | None = None,
                 turn: Callable | None = None):
        self.manifest = manifest if isinstance(manifest, Manifest) else Manifest.model_validate(manifest)
        self.main = main
        self.turn = turn
        self.tools = list(tools or [])
        # Set by the registry when it finds the app: where it came from and whether it is built in.
        self.source, self.dist, self.version, self.builtin = "", None, self.manifest.version or "0", False
        if self.manifest.kind == "code" and main is None:
            raise ValueError(f"code app {self.manifest.name} needs a main(sys, task)")

    def tool_objects(self) -> list[Tool]:
        """Its tools as Tools owned by this app."""
        out = []
        for t in self.tools:
            tool = t if isinstance(t, Tool) else Tool.from_function(t, app=self.name)
            out.append(replace(tool, app=self.name))
        return out

    @property
    def name(self) -> str:
        return self.manifest.name
