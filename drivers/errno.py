"""Errno-style failure codes, the one vocabulary every layer reports failures in.

It lives in the lowest layer (drivers) so a driver's failure carries the same code a syscall
reports; `llmos.syscalls.errno` adds SyscallError on top of it.
"""

from __future__ import annotations

import errno as _os_errno
from enum import StrEnum


class Errno(StrEnum):
    ENOSYS = "ENOSYS"  # no such syscall
    EINVAL = "EINVAL"  # bad arguments
    EACCES = "EACCES"  # not granted / outside the workspace
    ENOENT = "ENOENT"  # no such file, model, process
    EEXIST = "EEXIST"  # already exists
    EISDIR = "EISDIR"  # is a directory
    ENOTDIR = "ENOTDIR"  # is not a directory
    ENOTEMPTY = "ENOTEMPTY"  # directory not empty
    EFBIG = "EFBIG"  # too large
    ENOSPC = "ENOSPC"  # no room (a KV slot, the disk)
    EAGAIN = "EAGAIN"  # not now: the same call again cannot help until something changes
    ETIMEDOUT = "ETIMEDOUT"  # ran past its time limit
    EINTR = "EINTR"  # cancelled
    EDQUOT = "EDQUOT"  # budget spent
    EIO = "EIO"  # driver or storage failure

    @property
    def exit_code(self) -> int:
        """The Unix errno number, so shell scripts can tell failures apart."""
        return getattr(_os_errno, self.value, 1)

    @classmethod
    def of(cls, code: Errno | str) -> Errno:
        """`code` as an Errno; a code outside the vocabulary is EIO (never a ValueError)."""
        try:
            return cls(code)
        except ValueError:
            return cls.EIO
