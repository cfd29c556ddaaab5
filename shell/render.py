"""How results, errors and progress look to a person."""

from __future__ import annotations

import json
import sys

from pydantic import BaseModel

from ..syscalls.errno import SyscallError


def to_json(result: BaseModel | dict | list, indent: int | None = 2) -> str:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return json.dumps(data, indent=indent, ensure_ascii=False)


def error_line(err: SyscallError) -> str:
    return f"llmos: {err.code}: {err.message}"


def print_error(err: SyscallError) -> None:
    print(error_line(err), file=sys.stderr)


class ProgressBar:
    """A rich progress bar on stderr that appears only when there is something slow to show."""

    def __init__(self):
        self._progress = None
        self._tasks: dict[str, int] = {}

    def __call__(self, done: int, total: int, what: str) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
        if what not in self._tasks:
            self._tasks[what] = self._progress.add_task(what, total=total)
        self._progress.update(self._tasks[what], completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
