"""Starting an app as a process: manifest ∩ grants, never more."""

from __future__ import annotations

from ..kernel.process import ExitStatus, Process, ProcState
from ..syscalls.caps import CapSet
from ..syscalls.errno import Errno, SyscallError
from .registry import find, install_tools
from .sdk import App


def capabilities(kernel, app: App, grants: list[str] | None = None) -> CapSet:
    """What a process of `app` may do: its manifest intersected with the user's grants.

    `grants` given (e.g. `llmos run --grant`) are exactly this run's grants; otherwise the stored
    grants apply, and an app used for the first time gets its manifest's default grants.
    """
    if grants is None:
        grants = kernel.grants.get(app.name)
        if grants is None:
            grants = kernel.grants.grant(app.name, app.manifest.default_grants) if app.manifest.default_grants else []
    try:
        granted = CapSet.parse(grants)
    except ValueError as exc:
        raise SyscallError(Errno.EINVAL, str(exc)) from None
    return CapSet.parse(app.manifest.capabilities).intersect(granted)


def launch(kernel, app_name: str, task: str, *, grants: list[str] | None = None, **quotas) -> Process:
    install_tools(kernel)
    app = find(kernel.home, app_name)
    caps = capabilities(kernel, app, grants)
    m = app.manifest
    quotas.setdefault("max_steps", m.max_steps)
    quotas.setdefault("max_tokens", m.max_tokens)
    return kernel.spawn(task=task, caps=caps, app=app.name, **quotas)


def run_code_app(kernel, app: App, proc: Process) -> tuple[int, str]:
    """Run a code app's main(sys, task) as process `proc`; (exit status, reply or reason)."""
    kernel.procs.set_state(proc.pid, ProcState.RUNNING)
    try:
        reply = app.main(kernel.process_sys(proc.pid), proc.task)
    except SyscallError as err:
        kernel.procs.finish(proc.pid, ProcState.EXITED, err.code.exit_code, f"{err.code}: {err.message}")
        return err.code.exit_code, f"{err.code}: {err.message}"
    except Exception as exc:  # the app's bug, reported in one line
        kernel.procs.finish(proc.pid, ProcState.EXITED, ExitStatus.FAILED, f"app crashed: {type(exc).__name__}: {exc}")
        return 1, f"app crashed: {type(exc).__name__}: {exc}"
    text = "" if reply is None else str(reply)
    kernel.procs.finish(proc.pid, ProcState.EXITED, ExitStatus.OK, "returned", reply=text)
    return 0, text
