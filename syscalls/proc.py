"""proc.*: processes — spawn, wait, kill, ps, send, recv, exit.

Handlers reach the process table through ctx.services.procs. A child gets only capabilities
its parent holds (EACCES otherwise). Until the scheduler runs processes side by side,
proc.wait runs a ready child to its end in the caller's turn.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import Field

from .budget import Quotas, Spent
from .caps import CapSet
from .context import CallContext
from .errno import Errno, SyscallError
from .spec import Args, Result, syscall


class ProcState(StrEnum):
    READY = "ready"  # spawned, not yet run
    RUNNING = "running"
    WAITING = "waiting"  # between turns, waiting for its next message (a chat session)
    STOPPED = "stopped"  # reserved: suspended by the scheduler
    EXITED = "exited"
    KILLED = "killed"


LIVE = (ProcState.READY, ProcState.RUNNING, ProcState.WAITING, ProcState.STOPPED)
ENDED = (ProcState.EXITED, ProcState.KILLED)


class ExitStatus(IntEnum):
    OK = 0  # replied, or exited with status 0
    FAILED = 1  # the model or a driver failed
    QUOTA = 122  # a budget is spent (EDQUOT's number)
    INTERRUPTED = 130  # llmos kill / Ctrl-C reached the running loop (128 + SIGINT)
    KILLED = 137  # killed before or without running (128 + SIGKILL)


class ProcInfo(Result):
    """A process as the process table holds it: the one record the kernel, the shell and
    proc.* results all use (the kernel's Process is this plus its parsed capabilities)."""

    pid: int
    parent: int
    app: str
    task: str
    state: ProcState
    priority: int
    caps: list[str]
    quotas: Quotas
    spent: Spent
    workspace: str
    created: float
    exit_status: int | None = None
    exit_reason: str | None = None
    ended: float | None = None
    host_pid: int | None = None
    kill_requested: bool = False
    reply: str | None = None
    tool_choice: str = "auto"  # auto, required (a call first), none, or one function's name

    def info(self) -> ProcInfo:
        """This record as a plain ProcInfo (what proc.* syscalls return)."""
        return ProcInfo.model_validate(self.model_dump())


class SpawnArgs(Args):
    task: str = Field(description="what the child should do", min_length=1, max_length=2000)
    caps: list[str] | None = Field(None, max_length=32, description="capabilities (default: all of yours)")
    max_steps: int = Field(8, ge=1, le=100)
    max_tokens: int = Field(2048, ge=1, le=65536)
    workspace: Literal["own", "parent"] = Field("own", description="a fresh folder, or the caller's workspace")


class SpawnResult(Result):
    pid: int


@syscall("proc.spawn", args=SpawnArgs, result=SpawnResult, examples=({"task": "list the files"},))
def proc_spawn(ctx: CallContext, a: SpawnArgs) -> SpawnResult:
    """Start a child process on a task, with a subset of your capabilities."""
    from_kernel = ctx.services
    if a.caps is None:
        caps = ctx.caps
    else:
        try:
            caps = CapSet.parse(a.caps)
        except ValueError as exc:
            raise SyscallError(Errno.EINVAL, str(exc)) from None
        extra = [str(c) for c in caps if not ctx.caps.covers(c)]
        if extra:
            raise SyscallError(Errno.EACCES, f"a child can only get capabilities you hold; not yours: {', '.join(extra)}")
    p = from_kernel.spawn(task=a.task, caps=caps, parent=ctx.pid, max_steps=a.max_steps, max_tokens=a.max_tokens,
                          workspace=str(ctx.workspace) if a.workspace == "parent" else None)
    return SpawnResult(pid=p.pid)


class PidArgs(Args):
    pid: int = Field(ge=1, description="process id")


@syscall("proc.wait", args=PidArgs, result=ProcInfo, timeout=3600.0, examples=({"pid": 2},))
def proc_wait(ctx: CallContext, a: PidArgs) -> ProcInfo:
    """Wait for a child process to end; returns how it ended and its reply."""
    procs = ctx.services.procs
    if not procs.is_descendant(a.pid, ctx.pid):
        raise SyscallError(Errno.EACCES, f"process {a.pid} is not your child")
    ctx.services.run_to_end(a.pid, check=ctx.check)
    return procs.get(a.pid).info()


@syscall("proc.kill", args=PidArgs, result=ProcInfo, examples=({"pid": 2},))
def proc_kill(ctx: CallContext, a: PidArgs) -> ProcInfo:
    """End a process you started (or any, from the shell)."""
    procs = ctx.services.procs
    if a.pid == ctx.pid:
        raise SyscallError(Errno.EINVAL, "use proc.exit (or the exit action) to end yourself")
    if not procs.is_descendant(a.pid, ctx.pid):
        raise SyscallError(Errno.EACCES, f"process {a.pid} is not yours to kill")
    return procs.request_kill(a.pid).info()


class PsArgs(Args):
    all: bool = Field(False, description="include processes that have ended")


class PsResult(Result):
    processes: list[ProcInfo]


@syscall("proc.ps", args=PsArgs, result=PsResult, examples=({"all": False},))
def proc_ps(ctx: CallContext, a: PsArgs) -> PsResult:
    """List processes (live ones, or all with all=true)."""
    return PsResult(processes=[p.info() for p in ctx.services.procs.list(all=a.all)])


class SendArgs(Args):
    pid: int = Field(ge=1, description="the receiving process")
    message: str = Field(max_length=4000)


class SendResult(Result):
    id: int


@syscall("proc.send", args=SendArgs, result=SendResult, examples=({"pid": 2, "message": "hello"},))
def proc_send(ctx: CallContext, a: SendArgs) -> SendResult:
    """Put a message in another process's mailbox."""
    return SendResult(id=ctx.services.procs.send(a.pid, ctx.pid, a.message))


class NoArgs(Args):
    pass


class RecvResult(Result):
    message: str | None
    sender: int | None


@syscall("proc.recv", args=NoArgs, result=RecvResult)
def proc_recv(ctx: CallContext, a: NoArgs) -> RecvResult:
    """Take the oldest unread message from your mailbox (message is null if there is none)."""
    got = ctx.services.procs.recv(ctx.pid)
    return RecvResult(message=got["body"] if got else None, sender=got["sender"] if got else None)


class ExitArgs(Args):
    status: int = Field(0, ge=0, le=255)
    reason: str = Field("", max_length=240)


@syscall("proc.exit", args=ExitArgs, result=ProcInfo, examples=({"status": 0, "reason": "done"},))
def proc_exit(ctx: CallContext, a: ExitArgs) -> ProcInfo:
    """End the calling process with a status and a reason."""
    if ctx.pid == 0:
        raise SyscallError(Errno.EINVAL, "the shell is not a process; nothing to exit")
    procs = ctx.services.procs
    procs.finish(ctx.pid, ProcState.EXITED, a.status, a.reason or "exited")
    return procs.get(ctx.pid).info()
