"""The dispatcher, after xv6's syscall(): look up, validate, authorize, run, check, journal.

Nothing but a SyscallError leaves `dispatch`; every call, failed or not, is journaled.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..drivers.base import DriverError
from .context import CallContext
from .errno import Errno, SyscallError, from_oserror
from .spec import Syscall


@dataclass
class JournalEntry:
    ts: float
    pid: int
    name: str
    args: dict
    ok: bool
    errno: str | None
    message: str | None
    duration_ms: float
    tokens_in: int
    tokens_out: int


def explain_validation(name: str, exc: ValidationError) -> str:
    """One line naming each bad field and why, e.g. `path: Field required`."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}")
    return f"bad arguments for {name}: " + "; ".join(parts) + f"; see `llmos syscalls {name.split('.')[0]}`"


_SURROGATE = re.compile("[\ud800-\udfff]")
INT_LIMIT = 2**63  # SQLite stores integers in 64 bits; a larger one cannot be stored or compared


def unfit(value: Any) -> str | None:
    """What in a JSON value no syscall can take whatever its schema says, or None: text that is
    not valid Unicode (JSON's "\\ud800" decodes to a lone surrogate) or an integer past 64 bits."""
    stack = [(value, "")]
    while stack:  # iteratively: a value may nest deeper than Python recurses
        item, at = stack.pop()
        where = at.encode("utf-8", "replace").decode() or "a value"
        if isinstance(item, dict | list):
            for k, v in item.items() if isinstance(item, dict) else enumerate(item):
                if isinstance(k, str) and _SURROGATE.search(k):
                    return f"{where}: a field name with a lone surrogate is not valid Unicode"
                stack.append((v, f"{at}.{k}" if at else str(k)))
        elif isinstance(item, str) and _SURROGATE.search(item):
            return f"{where}: text with a lone surrogate is not valid Unicode"
        elif isinstance(item, int) and not isinstance(item, bool) and not -INT_LIMIT <= item < INT_LIMIT:
            return f"{where}: an integer of {item.bit_length()} bits does not fit in 64"
    return None


def unknown(name: str, table: dict[str, Syscall]) -> SyscallError:
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see `llmos syscalls` for the list"
    shown = name if len(name) <= 100 else name[:100] + "…"
    return SyscallError(Errno.ENOSYS, f"no syscall named {shown!r}; {hint}")


class Dispatcher:
    def __init__(self, table: dict[str, Syscall], journal: Callable[[JournalEntry], None] | None):
        self.table = table
        self.journal = journal

    def dispatch(self, ctx: CallContext, name: str, raw_args: Any) -> BaseModel:
        t0 = time.perf_counter()
        args_for_journal = raw_args if isinstance(raw_args, dict) else {"_": raw_args}
        try:
            result = self._run(ctx, name, raw_args)
        except SyscallError as err:
            self._journal(ctx, name, args_for_journal, t0, err)
            raise
        self._journal(ctx, name, args_for_journal, t0, None)
        return result

    def _run(self, ctx: CallContext, name: str, raw_args: Any) -> BaseModel:
        spec = self.table.get(name)  # look up
        if spec is None:
            raise unknown(name, self.table)
        if raw_args is None:
            raw_args = {}
        if not isinstance(raw_args, dict):
            raise SyscallError(Errno.EINVAL, f"arguments for {name} must be a JSON object")
        if why := unfit(raw_args):
            raise SyscallError(Errno.EINVAL, f"bad arguments for {name}: {why}; send UTF-8 text and 64-bit integers")
        try:  # validate
            args = spec.args.model_validate(raw_args)
        except ValidationError as exc:
            raise SyscallError(Errno.EINVAL, explain_validation(name, exc)) from None
        scope = spec.scope(args) if spec.scope else None  # authorize
        if not ctx.caps.allows(spec.capability, scope):
            what = spec.name + (f" on {scope!r}" if scope is not None else "")
            raise SyscallError(Errno.EACCES, f"{what} is not granted to this process; granted: {ctx.caps}")
        budget = ctx.budget  # quota: the process's one budget (a kill is EINTR here)
        if budget is not None:
            if budget.calls_are_steps:
                budget.charge(steps=1)
            budget.check()
            left = budget.left()
            ctx.bytes_left, ctx.tokens_left = min(ctx.bytes_left, left.bytes), min(ctx.tokens_left, left.tokens)
            before = (ctx.usage.tokens_out, ctx.usage.bytes_written)
        ctx.deadline = time.monotonic() + spec.timeout
        try:  # run
            result = spec.handler(ctx, args)
        except SyscallError:
            raise
        except DriverError as exc:
            raise SyscallError(exc.code, str(exc)) from None
        except KeyboardInterrupt:
            raise SyscallError(Errno.EINTR, f"{name} interrupted") from None
        except OSError as exc:
            raise from_oserror(exc, name) from None
        except Exception as exc:  # a handler bug must not escape as a traceback
            raise SyscallError(Errno.EIO, f"{name} failed inside the kernel: {type(exc).__name__}: {exc}") from None
        finally:  # what it spent, failed or not, is charged to the process and its ancestors
            if budget is not None:
                budget.charge(tokens=ctx.usage.tokens_out - before[0], bytes=ctx.usage.bytes_written - before[1])
        if not isinstance(result, spec.result):  # check
            raise SyscallError(Errno.EIO, f"{name} returned {type(result).__name__}, not {spec.result.__name__}")
        return result

    def _journal(self, ctx: CallContext, name: str, args: dict, t0: float, err: SyscallError | None) -> None:
        if self.journal is None:
            return
        self.journal(
            JournalEntry(
                ts=time.time(),
                pid=ctx.pid,
                name=name,
                args=args,
                ok=err is None,
                errno=str(err.code) if err else None,
                message=err.message if err else None,
                duration_ms=(time.perf_counter() - t0) * 1000.0,
                tokens_in=ctx.usage.tokens_in,
                tokens_out=ctx.usage.tokens_out,
            )
        )
