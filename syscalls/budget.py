"""A process's budget: what it may spend (Quotas) and has spent (Spent).

One Budget per process rides on its call context and is charged where every syscall passes
(the dispatcher: a kill is EINTR, a spent budget EDQUOT, tokens and bytes are charged after the
call), and by the agent loop for its own actions. A code app, an LLM app and a child all draw
from one: a child's quotas are carved out of what its parent has left, and everything the child
spends is charged to its parent (and theirs) too, so no process tree outspends its root.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from .errno import Errno, SyscallError


class Quotas(BaseModel):
    steps: int = 16  # actions the model may take (a code app: syscalls it may make)
    tokens: int = 4096  # tokens the model may generate
    seconds: float = 300.0  # wall time
    bytes: int = 1 << 20  # bytes written through fs.*


class Spent(BaseModel):
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    bytes: int = 0


@dataclass
class Left:
    """What a process may still spend: the least of its own and every ancestor's remainder."""

    steps: int
    tokens: int
    seconds: float
    bytes: int


class Budget:
    """`save(pid, spent)` persists a charge; `killed(pid)` says whether a kill was requested."""

    LOCK = threading.RLock()  # charges walk a chain of budgets that threads share

    def __init__(self, pid: int, quotas: Quotas, spent: Spent, *, parent: Budget | None = None,
                 save: Callable[[int, Spent], None] | None = None, killed: Callable[[int], bool] | None = None):
        self.pid, self.quotas, self.spent, self.parent = pid, quotas, spent, parent
        self._save, self._killed = save, killed
        self.calls_are_steps = False  # a code app: each syscall is one step
        self._t0: float | None = None

    def chain(self):
        b = self
        while b is not None:
            yield b
            b = b.parent

    def start(self) -> None:
        """Start the wall clock (a process's first run or call); the seconds already spent count."""
        if self._t0 is None:
            self._t0 = time.monotonic() - self.spent.seconds

    def seconds(self) -> float:
        return self.spent.seconds if self._t0 is None else time.monotonic() - self._t0

    def left(self) -> Left:
        with self.LOCK:
            return Left(
                steps=min(b.quotas.steps - b.spent.steps for b in self.chain()),
                tokens=min(b.quotas.tokens - b.spent.tokens for b in self.chain()),
                seconds=min(b.quotas.seconds - b.seconds() for b in self.chain()),
                bytes=min(b.quotas.bytes - b.spent.bytes for b in self.chain()),
            )

    def _whose(self, b: Budget) -> str:
        return "" if b is self else f"parent process {b.pid}'s "

    def check_kill(self) -> None:
        """EINTR if a kill was requested for this process or one of its ancestors."""
        for b in self.chain():
            if b._killed is not None and b._killed(b.pid):
                who = "" if b is self else f" (its parent {b.pid} was killed)"
                raise SyscallError(Errno.EINTR, f"process {self.pid} was killed{who}; it stops here")

    def check(self) -> None:
        """Before a syscall: EINTR on a kill, EDQUOT when a quota (own or an ancestor's) is spent."""
        self.start()
        self.check_kill()
        with self.LOCK:
            for b in self.chain():
                q, s, whose = b.quotas, b.spent, self._whose(b)
                if b.seconds() > q.seconds:
                    raise SyscallError(Errno.EDQUOT, f"{whose}wall-time quota of {q.seconds:g}s spent")
                if s.tokens >= q.tokens:
                    raise SyscallError(Errno.EDQUOT, f"{whose}token quota of {q.tokens} spent")
                if s.steps > q.steps:
                    raise SyscallError(Errno.EDQUOT, f"{whose}step quota of {q.steps} spent")

    def charge(self, *, steps: int = 0, tokens: int = 0, bytes: int = 0) -> None:
        """Add spending to this budget and every ancestor's, and persist each."""
        if not (steps or tokens or bytes):
            return
        with self.LOCK:
            for b in self.chain():
                b.spent.steps += steps
                b.spent.tokens += tokens
                b.spent.bytes += bytes
                b.save()

    def save(self) -> None:
        with self.LOCK:
            self.spent.seconds = round(self.seconds(), 3)
            if self._save is not None:
                self._save(self.pid, self.spent)

    def carve(self, want: Quotas) -> Quotas:
        """A child's quotas: what it asks for, but no more than this budget has left."""
        left = self.left()
        if left.steps <= 0 or left.tokens <= 0 or left.seconds <= 0 or left.bytes <= 0:
            spent = [n for n in ("steps", "tokens", "seconds", "bytes") if getattr(left, n) <= 0]
            raise SyscallError(Errno.EDQUOT, f"process {self.pid} has no {', '.join(spent)} left to give a child")
        return Quotas(steps=min(want.steps, left.steps), tokens=min(want.tokens, left.tokens),
                      seconds=min(want.seconds, left.seconds), bytes=min(want.bytes, left.bytes))
