"""fs.*: files, confined to the caller's workspace.

Every path is resolved (symlinks included) and must stay inside the workspace root
(os.path.commonpath); then it is opened component by component from the root with
O_NOFOLLOW, so a symlink swapped in after the check cannot lead out either.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import stat as st
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import Field

from .context import CallContext
from .errno import Errno, SyscallError, from_oserror
from .spec import Args, Result, syscall

Encoding = Literal["utf-8", "base64"]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _escape(path: str) -> SyscallError:
    return SyscallError(
        Errno.EACCES,
        f"path {path!r} leads outside the workspace; use a path inside it, relative to the workspace root (e.g. notes.txt)",
    )


def resolve(root: Path, path: str) -> tuple[Path, str]:
    """(real path, workspace-relative posix path) for `path`, or EACCES if it leads out."""
    if "\x00" in path:
        raise SyscallError(Errno.EACCES, "path contains a NUL byte; remove it")
    root_real = os.path.realpath(root)
    candidate = path if os.path.isabs(path) else os.path.join(root_real, path)
    real = os.path.realpath(candidate)
    if os.path.commonpath([root_real, real]) != root_real:
        raise _escape(path)
    rel = os.path.relpath(real, root_real)
    return Path(real), ("." if rel == "." else Path(rel).as_posix())


def _target(ctx: CallContext, call: str, path: str) -> str:
    """The workspace-relative path `path` really leads to, which the caller must be granted too:
    the dispatcher checks the path as spelled, and a symlink inside the workspace
    (a/link -> ../b) must not carry a scoped grant (fs.read:a/**) somewhere else."""
    _, rel = resolve(ctx.workspace, path)
    if not ctx.caps.allows(call, rel):
        raise SyscallError(Errno.EACCES, f"{path!r} leads to {rel!r}, where {call} is not granted; granted: {ctx.caps}")
    return rel


def scope_of(args) -> str:
    """The capability scope of an fs call: its path, normalized, relative to the workspace."""
    p = os.path.normpath(args.path.replace("\x00", ""))
    return "." if p in ("", ".") else p.lstrip("/")


def _open_dir(name: str, dir_fd: int) -> int:
    """Open a directory entry without following a symlink (one swapped in after the check)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        if st.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise SyscallError(Errno.EACCES, f"{name!r} turned into a symlink while in use; not following it") from None
        raise


@contextmanager
def _parent_fd(root: Path, rel: str):
    """An fd for the directory holding `rel`, reached from the root without following symlinks."""
    parts = [] if rel == "." else rel.split("/")
    fd = os.open(os.path.realpath(root), _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            nxt = _open_dir(part, fd)
            os.close(fd)
            fd = nxt
        yield fd, (parts[-1] if parts else ".")
    finally:
        os.close(fd)


@contextmanager
def _guard(what: str):
    """Translate OSErrors into SyscallErrors (ELOOP, a symlink on the path, becomes EACCES)."""
    try:
        yield
    except OSError as exc:
        raise from_oserror(exc, what) from None


def _decode(content: str, encoding: str) -> bytes:
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise SyscallError(Errno.EINVAL, "content is not valid base64") from None
    return content.encode("utf-8")


# -- fs.read ----------------------------------------------------------------------------------


class ReadArgs(Args):
    path: str = Field(description="file path relative to the workspace", max_length=4096)
    encoding: Encoding = Field("utf-8", description="utf-8 for text, base64 for binary")
    offset: int = Field(0, ge=0, description="first byte to read")
    length: int | None = Field(None, ge=0, description="bytes to read (default: to the end)")


class ReadResult(Result):
    path: str
    content: str
    encoding: Encoding
    size: int  # whole file, bytes
    bytes_read: int


@syscall("fs.read", args=ReadArgs, result=ReadResult, scope=scope_of, examples=({"path": "notes.txt"},))
def fs_read(ctx: CallContext, a: ReadArgs) -> ReadResult:
    """Read a file in the workspace (text, or base64 for binary)."""
    rel = _target(ctx, "fs.read", a.path)
    with _guard(f"cannot read {a.path}"), _parent_fd(ctx.workspace, rel) as (dfd, name):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if st.S_ISDIR(info.st_mode):
                raise SyscallError(Errno.EISDIR, f"{a.path} is a directory; use fs.list to see what it holds")
            want = a.length if a.length is not None else info.st_size - a.offset
            if want > ctx.limits.read_bytes:
                raise SyscallError(
                    Errno.EFBIG,
                    f"{a.path} is {info.st_size} bytes, over the {ctx.limits.read_bytes}-byte read limit; read a part with offset and length",
                )
            f.seek(a.offset)
            data = f.read(max(0, want))
    if a.encoding == "base64":
        content = base64.b64encode(data).decode("ascii")
    else:
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SyscallError(Errno.EINVAL, f"{a.path} is not UTF-8 text; read it with encoding=base64") from None
    return ReadResult(path=rel, content=content, encoding=a.encoding, size=info.st_size, bytes_read=len(data))


# -- fs.write / fs.append ---------------------------------------------------------------------


class WriteArgs(Args):
    path: str = Field(description="file path relative to the workspace", max_length=4096)
    content: str = Field(description="what to write")
    encoding: Encoding = Field("utf-8", description="utf-8 for text, base64 for binary")
    parents: bool = Field(False, description="create missing parent directories")


class WriteResult(Result):
    path: str
    bytes_written: int
    size: int


def _write(ctx: CallContext, a: WriteArgs, append: bool) -> WriteResult:
    data = _decode(a.content, a.encoding)
    if len(data) > ctx.limits.write_bytes:
        raise SyscallError(Errno.EFBIG, f"{len(data)} bytes is over the {ctx.limits.write_bytes}-byte write limit; write it in parts with fs.append")
    if len(data) > ctx.bytes_left:
        raise SyscallError(Errno.EDQUOT, f"writing {len(data)} bytes would pass this process's write quota ({int(ctx.bytes_left)} bytes left)")
    rel = _target(ctx, "fs.append" if append else "fs.write", a.path)
    if rel == ".":
        raise SyscallError(Errno.EISDIR, "the workspace root is a directory; name a file inside it")
    if a.parents and "/" in rel:
        _mkdirs(ctx.workspace, rel.rsplit("/", 1)[0])
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    verb = "append to" if append else "write"
    with _guard(f"cannot {verb} {a.path}"), _parent_fd(ctx.workspace, rel) as (dfd, name):
        try:
            fd = os.open(name, flags, 0o644, dir_fd=dfd)
        except IsADirectoryError:
            raise SyscallError(Errno.EISDIR, f"{a.path} is a directory; name a file") from None
        try:
            os.write(fd, data)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
    ctx.usage.bytes_written += len(data)
    return WriteResult(path=rel, bytes_written=len(data), size=size)


@syscall("fs.write", args=WriteArgs, result=WriteResult, scope=scope_of,
         examples=({"path": "notes.txt", "content": "hello"},))
def fs_write(ctx: CallContext, a: WriteArgs) -> WriteResult:
    """Create or overwrite a file in the workspace."""
    return _write(ctx, a, append=False)


@syscall("fs.append", args=WriteArgs, result=WriteResult, scope=scope_of,
         examples=({"path": "log.txt", "content": "one more line\n"},))
def fs_append(ctx: CallContext, a: WriteArgs) -> WriteResult:
    """Append to a file in the workspace, creating it if missing."""
    return _write(ctx, a, append=True)


# -- fs.list / fs.stat ------------------------------------------------------------------------


class PathArgs(Args):
    path: str = Field(".", description="path relative to the workspace", max_length=4096)


class Entry(Result):
    name: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int


class ListResult(Result):
    path: str
    entries: list[Entry]
    truncated: bool


def _kind(mode: int) -> str:
    if st.S_ISREG(mode):
        return "file"
    if st.S_ISDIR(mode):
        return "dir"
    if st.S_ISLNK(mode):
        return "symlink"
    return "other"


@syscall("fs.list", args=PathArgs, result=ListResult, scope=scope_of, examples=({"path": "."},))
def fs_list(ctx: CallContext, a: PathArgs) -> ListResult:
    """List a directory in the workspace."""
    rel = _target(ctx, "fs.list", a.path)
    with _guard(f"cannot list {a.path}"), _parent_fd(ctx.workspace, rel) as (dfd, name):
        fd = _open_dir(name, dfd) if rel != "." else os.dup(dfd)
        try:
            names = sorted(os.listdir(fd))
            entries = []
            for n in names[: ctx.limits.list_entries]:
                s = os.stat(n, dir_fd=fd, follow_symlinks=False)
                entries.append(Entry(name=n, type=_kind(s.st_mode), size=s.st_size))
        finally:
            os.close(fd)
    return ListResult(path=rel, entries=entries, truncated=len(names) > ctx.limits.list_entries)


class StatResult(Result):
    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    mtime: float
    mode: str


@syscall("fs.stat", args=PathArgs, result=StatResult, scope=scope_of, examples=({"path": "notes.txt"},))
def fs_stat(ctx: CallContext, a: PathArgs) -> StatResult:
    """Show a file's or directory's type, size and modification time."""
    rel = _target(ctx, "fs.stat", a.path)
    with _guard(f"cannot stat {a.path}"), _parent_fd(ctx.workspace, rel) as (dfd, name):
        s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    return StatResult(path=rel, type=_kind(s.st_mode), size=s.st_size, mtime=s.st_mtime, mode=oct(s.st_mode & 0o777))


# -- fs.remove / fs.mkdir ---------------------------------------------------------------------


class RemoveArgs(Args):
    path: str = Field(description="path relative to the workspace", max_length=4096)
    recursive: bool = Field(False, description="remove a directory and everything in it")


class RemoveResult(Result):
    path: str
    removed: int  # files and directories removed


@syscall("fs.remove", args=RemoveArgs, result=RemoveResult, scope=scope_of, examples=({"path": "old.txt"},))
def fs_remove(ctx: CallContext, a: RemoveArgs) -> RemoveResult:
    """Remove a file, or a directory (recursive=true for a non-empty one)."""
    rel = _target(ctx, "fs.remove", a.path)
    if rel == ".":
        raise SyscallError(Errno.EACCES, "the workspace root itself cannot be removed; remove what is inside it")
    with _guard(f"cannot remove {a.path}"), _parent_fd(ctx.workspace, rel) as (dfd, name):
        s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not st.S_ISDIR(s.st_mode):
            os.unlink(name, dir_fd=dfd)
            return RemoveResult(path=rel, removed=1)
        if not a.recursive:
            try:
                os.rmdir(name, dir_fd=dfd)
            except OSError as exc:
                if exc.errno == 39:  # ENOTEMPTY
                    raise SyscallError(Errno.ENOTEMPTY, f"{a.path} is a directory that is not empty; pass recursive=true to remove it all") from None
                raise
            return RemoveResult(path=rel, removed=1)
        count = sum(len(d) + len(f) for _, d, f in os.walk(os.path.join(os.path.realpath(ctx.workspace), rel)))
        shutil.rmtree(name, dir_fd=dfd)  # fd-based: does not follow symlinks
        return RemoveResult(path=rel, removed=count + 1)


class MkdirArgs(Args):
    path: str = Field(description="directory path relative to the workspace", max_length=4096)
    parents: bool = Field(False, description="create missing parents; no error if it exists")


class MkdirResult(Result):
    path: str
    created: bool


def _mkdirs(root: Path, rel: str) -> bool:
    fd = os.open(os.path.realpath(root), _DIR_FLAGS)
    created = False
    try:
        for part in rel.split("/"):
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                created = True
            except FileExistsError:
                pass
            nxt = _open_dir(part, fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    return created


@syscall("fs.mkdir", args=MkdirArgs, result=MkdirResult, scope=scope_of, examples=({"path": "notes"},))
def fs_mkdir(ctx: CallContext, a: MkdirArgs) -> MkdirResult:
    """Create a directory in the workspace."""
    rel = _target(ctx, "fs.mkdir", a.path)
    with _guard(f"cannot create directory {a.path}"):
        if rel == ".":
            if a.parents:
                return MkdirResult(path=rel, created=False)
            raise SyscallError(Errno.EEXIST, "the workspace root already exists")
        if a.parents:
            return MkdirResult(path=rel, created=_mkdirs(ctx.workspace, rel))
        with _parent_fd(ctx.workspace, rel) as (dfd, name):
            os.mkdir(name, 0o755, dir_fd=dfd)
    return MkdirResult(path=rel, created=True)
