"""SyscallError: every syscall failure, carrying an Errno (the vocabulary is in drivers/errno.py)."""

from __future__ import annotations

import errno as _os_errno

from ..drivers.errno import Errno


class SyscallError(Exception):
    """A syscall failed: `code` says how, the message says what happened and what to do."""

    def __init__(self, code: Errno | str, message: str):
        self.code = Errno.of(code)
        self.message = message
        super().__init__(f"{self.code}: {message}")

    def to_dict(self) -> dict:
        return {"errno": str(self.code), "message": self.message}


_FROM_OS = {
    _os_errno.ENOENT: Errno.ENOENT,
    _os_errno.EEXIST: Errno.EEXIST,
    _os_errno.EISDIR: Errno.EISDIR,
    _os_errno.ENOTDIR: Errno.ENOTDIR,
    _os_errno.ENOTEMPTY: Errno.ENOTEMPTY,
    _os_errno.EACCES: Errno.EACCES,
    _os_errno.EPERM: Errno.EACCES,
    _os_errno.ELOOP: Errno.EACCES,
    _os_errno.EFBIG: Errno.EFBIG,
    _os_errno.ENOSPC: Errno.ENOSPC,
    _os_errno.EDQUOT: Errno.ENOSPC,
    _os_errno.ENAMETOOLONG: Errno.EINVAL,
    _os_errno.EINVAL: Errno.EINVAL,
}


def from_oserror(exc: OSError, what: str) -> SyscallError:
    """Translate an OSError about `what` into a SyscallError with a hint."""
    code = _FROM_OS.get(exc.errno or 0, Errno.EIO)
    hints = {
        Errno.ENOENT: "check the name with fs.list",
        Errno.EEXIST: "choose another name or remove it first",
        Errno.EISDIR: "it is a directory; use fs.list, or recursive=true to remove it",
        Errno.ENOTDIR: "a part of the path is a file, not a directory",
        Errno.ENOTEMPTY: "the directory is not empty; pass recursive=true to remove it all",
        Errno.EACCES: "a symlink or permission stops this; stay inside the workspace",
        Errno.EFBIG: "the file would pass the system's size limit; write less",
        Errno.ENOSPC: "the disk is full; free some space, then try again",
        Errno.EIO: "check the disk, then try again",
    }
    hint = hints.get(code, "")
    reason = exc.strerror or str(exc)
    return SyscallError(code, f"{what}: {reason.lower()}" + (f"; {hint}" if hint else ""))
