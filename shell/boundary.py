"""The one error boundary of the `llmos` command and the REPL.

A user mistake (SyscallError, a driver's error) is one line, `llmos: ERRNO: what happened; what
to do`, and its errno as the exit status. Anything else is a bug in llmos: one line that says so
and where the traceback was written ($LLMOS_HOME/logs/crash-*.log), exit status 70 (EX_SOFTWARE).
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from ..drivers.base import DriverError
from ..syscalls.errno import Errno, SyscallError

EX_SOFTWARE = 70


def as_syscall_error(exc: BaseException) -> SyscallError | None:
    """The user-facing error an exception stands for, or None if it is a bug."""
    if isinstance(exc, SyscallError):
        return exc
    if isinstance(exc, DriverError):
        return SyscallError(exc.code, str(exc))
    if isinstance(exc, KeyboardInterrupt):
        return SyscallError(Errno.EINTR, "interrupted")
    return None


def crash_log(exc: BaseException) -> Path | None:
    """Write `exc`'s traceback under the data directory's logs/ (or the temp dir); its path."""
    from ..kernel.home import data_dir

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for folder in (lambda: data_dir() / "logs", lambda: Path(os.environ.get("TMPDIR", "/tmp"))):
        try:
            d = folder()
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except Exception:  # noqa: BLE001 - the next place, then give up quietly
            continue
    return None


def bug_line(exc: BaseException) -> str:
    path = crash_log(exc)
    where = f"the traceback is in {path}" if path else "no log could be written"
    return f"llmos: internal error: {type(exc).__name__}: {exc}; {where}; please report it"


def explain(exc: BaseException) -> tuple[str, int]:
    """(the one line to print, the exit status) for any exception."""
    err = as_syscall_error(exc)
    if err is not None:
        return f"llmos: {err.code}: {err.message}", err.code.exit_code
    return bug_line(exc), EX_SOFTWARE
