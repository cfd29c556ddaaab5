"""Starting an app as a process: manifest ∩ grants, never more; the user's consent first.

Only built-in apps carry default grants. A third-party app gets what a person granted: the
answer to its grant question (asked on a terminal on its first install or run), `--grant CAP`
or `--grant-all`; without any of those it runs with nothing. Every grant is a root syscall
(sys.grant), so the journal shows it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..kernel.process import ENDED, ExitStatus, Process, ProcState
from ..kernel.scheduler.policy import INTERACTIVE
from ..kernel.stubs import Stubs
from ..syscalls.caps import Capability, CapSet
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.table import TABLE
from .registry import find, install_tools
from .sdk import App

CODE_STEPS = 256  # a code app's default budget of syscalls (each one is a step)

# (app, the capabilities it asks for) -> the ones the person grants
Ask = Callable[[App, list[str]], list[str]]


def capabilities(kernel, app: App, grants: list[str] | None = None) -> CapSet:
    """What a process of `app` may do: its manifest intersected with the user's grants.

    `grants` given (e.g. `llmos run --grant`) are exactly this run's grants; otherwise the stored
    grants apply. A built-in app used for the first time gets its manifest's default grants; a
    third-party app nobody was asked about gets nothing.
    """
    if grants is None:
        grants = kernel.grants.get(app.name)
        if grants is None:
            grants = record(kernel, app, app.manifest.default_grants) if app.builtin else []
    try:
        granted = CapSet.parse(grants)
    except ValueError as exc:
        raise SyscallError(Errno.EINVAL, str(exc)) from None
    return CapSet.parse(app.manifest.capabilities).intersect(granted)


def requested(app: App, caps: list[str]) -> list[str]:
    """`caps` checked against what `app` asks for: EINVAL for a malformed one, EACCES for one
    it does not ask for."""
    asked = CapSet.parse(app.manifest.capabilities)
    beyond = []
    for c in caps:
        try:
            cap = Capability.parse(c)
        except ValueError as exc:
            raise SyscallError(Errno.EINVAL, f"{exc}; capabilities are lower case, e.g. fs.read") from None
        if not asked.covers(cap):
            beyond.append(c)
    if beyond:
        raise SyscallError(Errno.EACCES, f"{app.name} does not ask for {', '.join(beyond)}; it asks for "
                                         f"{', '.join(app.manifest.capabilities) or 'nothing'}")
    return list(caps)


def record(kernel, app: App, caps: list[str]) -> list[str]:
    """Store grants through the root-only syscall (journaled); the app's grants now."""
    return kernel.call("sys.grant", {"app": app.name, "caps": list(caps)}).granted


def consent(kernel, app: App, *, grant: list[str] | None = None, grant_all: bool = False,
            ask: Ask | None = None) -> list[str] | None:
    """Settle `app`'s grants before it first runs; None when the user was asked before and
    nothing new is granted. --grant-all / --grant CAP decide; else `ask` (a terminal); else the
    built-in defaults, or for a third-party app nothing (recorded as the answer)."""
    asked_before = kernel.grants.get(app.name) is not None
    if grant_all:
        return record(kernel, app, app.manifest.capabilities)
    if grant:
        return record(kernel, app, requested(app, grant))
    if asked_before:
        return None
    if app.builtin:
        return record(kernel, app, app.manifest.default_grants)
    if ask is not None and app.manifest.capabilities:
        return record(kernel, app, requested(app, ask(app, list(app.manifest.capabilities))))
    return record(kernel, app, [])


def launch(kernel, app_name: str, task: str, *, grants: list[str] | None = None, **quotas) -> Process:
    install_tools(kernel)
    app = find(kernel.home, app_name)
    caps = capabilities(kernel, app, grants)
    m = app.manifest
    quotas.setdefault("max_steps", m.max_steps or (CODE_STEPS if m.kind == "code" else None))
    quotas.setdefault("max_tokens", m.max_tokens)
    if quotas.get("workspace") is None and m.workspace == "shared":
        quotas["workspace"] = kernel.workspace
    return kernel.spawn(task=task, caps=caps, app=app.name, **quotas)


def run_code_app(kernel, app: App, proc: Process) -> tuple[int, str]:
    """Run a code app's main(sys, task) as process `proc`; (exit status, reply or reason).

    It draws on the process's one budget: each syscall is a step, and tokens, bytes and wall
    time are charged where every call passes; a kill reaches it at its next syscall (EINTR)."""
    budget = _start_budget(kernel, proc.pid)
    kernel.procs.set_state(proc.pid, ProcState.RUNNING)
    try:
        try:
            reply = app.main(kernel.process_sys(proc.pid), proc.task)
        except SyscallError as err:
            return _ended(kernel, proc.pid, err)
        except Exception as exc:  # the app's bug, reported in one line
            return 1, _crashed(kernel, proc.pid, exc)
        try:  # an app that swallowed its EINTR still ends killed
            budget.check_kill()
        except SyscallError as err:
            return _ended(kernel, proc.pid, err)
        text = "" if reply is None else str(reply)
        kernel.procs.finish(proc.pid, ProcState.EXITED, ExitStatus.OK, "returned", reply=text)
        return 0, text
    finally:
        _let_go(kernel, proc.pid)


def _start_budget(kernel, pid: int):
    """A code app's budget: each syscall it makes is a step; its wall time starts now."""
    budget = kernel.budget(pid)
    budget.calls_are_steps = True
    budget.start()
    return budget


def _crashed(kernel, pid: int, exc: Exception) -> str:
    """The app's own bug ends its process; the reason, in one line."""
    why = f"app crashed: {type(exc).__name__}: {exc}"
    kernel.procs.finish(pid, ProcState.EXITED, ExitStatus.FAILED, why)
    return why


def _let_go(kernel, pid: int) -> None:
    """A process is done running: its budget is saved and its KV is of no more use."""
    kernel.forget_budget(pid)
    kernel.router.forget(pid)


def _ended(kernel, pid: int, err: SyscallError) -> tuple[int, str]:
    why = f"{err.code}: {err.message}"
    if err.code == Errno.EINTR:
        kernel.procs.finish(pid, ProcState.KILLED, ExitStatus.INTERRUPTED, f"killed (EINTR): {err.message}")
        return ExitStatus.INTERRUPTED, why
    status = ExitStatus.QUOTA if err.code == Errno.EDQUOT else err.code.exit_code
    kernel.procs.finish(pid, ProcState.EXITED, status, why)
    return status, why


# A session lasts as long as the person talks: its budget is counted, not a limit on a chat.
SESSION_QUOTAS = {"max_steps": 1 << 30, "max_tokens": 1 << 40, "timeout": 1e9}

# (syscall name, its arguments, its result or the SyscallError it raised), as each call ends
OnCall = Callable[[str, dict, object], None]


class Session:
    """A conversing code app kept as one process across turns (the shell's chat).

    Each turn is the app's `turn(sys, text, **options)` made with the process's grants, budget,
    workspace and memory; between turns the process waits (`ps` shows it). `on_call` sees every
    syscall the app makes as it ends (the shell shows tool calls as they happen). close() ends
    the process; a kill ends it at its next syscall, and a turn after that raises EINVAL."""

    def __init__(self, kernel, app_name: str, *, grants: list[str] | None = None, on_call: OnCall | None = None,
                 priority: int = INTERACTIVE):
        self.k, self.on_call = kernel, on_call
        self.app = find(kernel.home, app_name)
        if self.app.turn is None:
            raise SyscallError(Errno.EINVAL, f"{app_name} does not converse (it has no turn); "
                                             f"run it with `llmos app run {app_name} ...`")
        self.proc = launch(kernel, app_name, f"{app_name} session", grants=grants, priority=priority, **SESSION_QUOTAS)
        self.pid = self.proc.pid
        _start_budget(kernel, self.pid)
        kernel.procs.set_state(self.pid, ProcState.WAITING)

    @property
    def alive(self) -> bool:
        """Whether the process can take another turn; a kill that arrived while it was not in a
        syscall (the end of a turn) ends it here."""
        procs = self.k.procs
        if procs.get(self.pid).state not in ENDED and procs.kill_requested(self.pid):
            procs.finish(self.pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "killed (EINTR)")
        return procs.get(self.pid).state not in ENDED

    def turn(self, text: str, *, stream: Callable[[str], None] | None = None, cancel=None, **options) -> str:
        """The app's answer to `text` (streamed to `stream`; `cancel` set: EINTR at the next token,
        and what was streamed is kept in the conversation as the answer so far)."""
        k, pid = self.k, self.pid
        if not self.alive:
            raise SyscallError(Errno.EINVAL, f"process {pid} ({self.app.name}) has ended: {k.procs.get(pid).exit_reason}")
        p = k.procs.get(pid)

        said: list[str] = []

        def heard(piece: str) -> None:
            said.append(piece)
            if stream is not None:
                stream(piece)

        def call(name: str, args: dict):
            ctx = k.context(pid=pid, caps=p.capset, workspace=p.workspace, stream=heard, cancel=cancel)
            try:
                result = k.call(name, args, ctx=ctx)
            except SyscallError as err:
                if self.on_call is not None:
                    self.on_call(name, args, err)
                raise
            if self.on_call is not None:
                self.on_call(name, args, result)
            return result

        k.procs.set_state(pid, ProcState.RUNNING)
        try:
            return str(self.app.turn(Stubs(TABLE, call), text, **options) or "")
        except SyscallError as err:
            if err.code == Errno.EINTR and k.procs.kill_requested(pid) or err.code == Errno.EDQUOT:
                _ended(k, pid, err)  # killed, or its budget spent: the session is over
            else:
                self._answered("".join(said))
            raise
        except Exception as exc:  # the app's bug: the session ends, in one line
            raise SyscallError(Errno.EIO, f"{self.app.name} {_crashed(k, pid, exc)}") from None
        finally:
            if self.alive:
                k.procs.set_state(pid, ProcState.WAITING)

    def _answered(self, said: str) -> None:
        """A turn that failed still ends with an answer in the conversation: what was said before
        it stopped, or an empty one (two user turns in a row break chat templates that need
        turns to alternate), unless its question never reached the conversation."""
        msgs = self.k.memory.messages(self.pid)
        if msgs and msgs[-1]["role"] == "user":
            self.k.memory.append(self.pid, "assistant", said)

    def close(self) -> None:
        """End the session's process (it exits with status 0)."""
        if self.alive:
            self.k.procs.finish(self.pid, ProcState.EXITED, ExitStatus.OK, "session ended")
        _let_go(self.k, self.pid)
