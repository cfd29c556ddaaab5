"""What a handler gets: the caller's identity, grants, workspace and the kernel's services.

The kernel builds one CallContext per call; handlers never import the kernel or the shell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..drivers.base import Driver, Generation, Sampling
from .budget import Budget
from .caps import ROOT, CapSet
from .errno import Errno, SyscallError


class Services(Protocol):
    """What handlers may reach of the kernel (the kernel implements it; tests may fake it).

    `procs` is the process table (get, list, is_descendant, request_kill, finish, send, recv)
    and `memory` the memory manager (remember, search, forget, core_get, core_set, stat);
    `tools` the kernel's ToolRegistry; `grants` the user's grants per app."""

    table: dict
    procs: Any
    memory: Any
    tools: Any  # the ToolRegistry (syscalls/tool.py)
    grants: Any  # the user's grants per app (get, grant, revoke): sys.grant, sys.revoke

    def driver(self, *, agent: bool = False) -> Driver:
        """The model; `agent`: the weights function calling decodes with (the same, or tuned)."""
        ...

    def info(self) -> dict: ...

    def about(self, text: str, functions: list[tuple[str, str]]) -> bool:
        """Whether `text` is about one of `functions` (name, description): tool_choice auto's hint."""
        ...

    def generate(self, pid: int, prompt: list[int] | str, sampling: Sampling, *,
                 on_text: Callable[[str], None] | None = None, check: Callable[[], None] | None = None,
                 key: Any = None, priority: int | None = None, one_shot: bool = False,
                 agent: bool = False) -> Generation: ...

    def spawn(self, *, task: str, caps: CapSet, app: str = "agent", parent: int = 0, max_steps: int | None = None,
              max_tokens: int | None = None, timeout: float | None = None, max_bytes: int | None = None,
              workspace: str | Path | None = None, priority: int = 0, tool_choice: str = "auto") -> Any: ...

    def run_to_end(self, pid: int, check: Callable[[], None] | None = None) -> Any: ...


@dataclass
class Limits:
    read_bytes: int = 1 << 20  # largest fs.read without offset/length
    write_bytes: int = 1 << 20  # largest single fs.write / fs.append
    list_entries: int = 1000
    max_tokens: int = 4096  # largest max_tokens for llm.*


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    bytes_written: int = 0


@dataclass
class CallContext:
    workspace: Path
    services: Services  # the kernel
    pid: int = 0
    caps: CapSet = ROOT
    limits: Limits = field(default_factory=Limits)
    stream: Callable[[str], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")
    usage: Usage = field(default_factory=Usage)
    bytes_left: float = float("inf")  # the process's write quota still unspent
    tokens_left: float = float("inf")  # the tokens its budget still allows llm.* to generate
    budget: Budget | None = None  # the process's one budget (None: root, or no process)
    priority: int | None = None  # llm.* generations' scheduling priority (None: the caller's own)
    one_shot: bool = False  # llm.* builds on nobody's KV (independent jobs: llmos batch)
    _polled: float = 0.0

    def check(self) -> None:
        """Raise EINTR if the call was cancelled, ETIMEDOUT if it ran past its deadline."""
        if self.cancel.is_set():
            raise SyscallError(Errno.EINTR, "cancelled")
        if self.budget is not None:
            now = time.monotonic()
            if now - self._polled > 0.2:  # a kill reaches a long call too, between tokens
                self._polled = now
                self.budget.check_kill()
        if time.monotonic() > self.deadline:
            raise SyscallError(Errno.ETIMEDOUT, "ran past its time limit; ask for less work")

    def emit(self, text: str) -> None:
        if self.stream is not None and text:
            self.stream(text)
