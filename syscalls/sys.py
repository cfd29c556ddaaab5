"""sys.*: about the system itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache

from pydantic import Field

from .context import CallContext
from .errno import Errno, SyscallError
from .spec import TABLE, Args, Result, syscall


class NoArgs(Args):
    pass


class InfoResult(Result):
    version: str
    model: str
    model_loaded: bool
    data_dir: str
    workspace: str
    syscalls: int
    pid: int
    window: int  # a process's context window, in tokens


@syscall("sys.info", args=NoArgs, result=InfoResult)
def sys_info(ctx: CallContext, a: NoArgs) -> InfoResult:
    """Show llmos's version, model, data directory and syscall count."""
    info = ctx.services.info()
    return InfoResult(
        version=info["version"],
        model=info["model"],
        model_loaded=info["model_loaded"],
        data_dir=info["data_dir"],
        workspace=str(ctx.workspace),
        syscalls=len(TABLE),
        pid=ctx.pid,
        window=info.get("window", 0),
    )


class TimeResult(Result):
    unix: float
    iso: str
    timezone: str


@syscall("sys.time", args=NoArgs, result=TimeResult)
def sys_time(ctx: CallContext, a: NoArgs) -> TimeResult:
    """Show the current time (Unix seconds and ISO 8601, local time zone)."""
    now = time.time()
    local = datetime.fromtimestamp(now, UTC).astimezone()
    return TimeResult(unix=now, iso=local.isoformat(timespec="seconds"), timezone=str(local.tzinfo))


class SyscallsArgs(Args):
    family: str | None = Field(None, description="only this family, e.g. fs", max_length=32)


class SyscallInfo(Result):
    name: str
    doc: str
    capability: str
    args: dict
    result: dict
    examples: list[dict]


class SyscallsResult(Result):
    syscalls: list[SyscallInfo]


@cache
def _info(name: str) -> SyscallInfo:
    """One syscall's entry, built once: its JSON Schemas take milliseconds and never change."""
    return SyscallInfo(**TABLE[name].describe())


@syscall("sys.syscalls", args=SyscallsArgs, result=SyscallsResult, examples=({"family": "fs"},))
def sys_syscalls(ctx: CallContext, a: SyscallsArgs) -> SyscallsResult:
    """List the syscall table with each call's doc and JSON Schemas."""
    specs = [s for s in TABLE.values() if a.family in (None, s.family)]
    return SyscallsResult(syscalls=[_info(s.name) for s in sorted(specs, key=lambda s: s.name)])


# -- sys.grant / sys.revoke: the user's consent, root only ------------------------------------


class GrantArgs(Args):
    app: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="the app's name")
    caps: list[str] = Field(default_factory=list, max_length=64,
                            description="capabilities to grant (none: the user answered, granting nothing)")


class RevokeArgs(Args):
    app: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="the app's name")
    caps: list[str] | None = Field(None, max_length=64, description="capabilities to take back (omit: all)")


class GrantResult(Result):
    app: str
    granted: list[str]


def _root_only(ctx: CallContext, name: str) -> None:
    if ctx.pid != 0:
        raise SyscallError(Errno.EACCES, f"{name} is for root (the user at the shell) only; "
                                         f"ask the user to run `llmos app grant|revoke`")


@syscall("sys.grant", args=GrantArgs, result=GrantResult, examples=({"app": "hello", "caps": ["fs.read"]},))
def sys_grant(ctx: CallContext, a: GrantArgs) -> GrantResult:
    """Grant an app capabilities (root only; the user's answer to an app's request)."""
    _root_only(ctx, "sys.grant")
    return GrantResult(app=a.app, granted=ctx.services.grants.grant(a.app, a.caps))


@syscall("sys.revoke", args=RevokeArgs, result=GrantResult, examples=({"app": "hello", "caps": ["fs.read"]},))
def sys_revoke(ctx: CallContext, a: RevokeArgs) -> GrantResult:
    """Take capabilities back from an app (root only; omit caps for all)."""
    _root_only(ctx, "sys.revoke")
    return GrantResult(app=a.app, granted=ctx.services.grants.revoke(a.app, a.caps))
