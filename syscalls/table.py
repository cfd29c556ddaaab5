"""The syscall table: importing this module registers every family into TABLE."""

from __future__ import annotations

from . import fs, llm, mem, proc, sys, tool  # noqa: F401  (registration happens at import)
from .spec import TABLE, Syscall

__all__ = ["TABLE", "Syscall", "families"]


def families() -> list[str]:
    return sorted({s.family for s in TABLE.values()})
