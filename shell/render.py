"""How results, errors and progress look to a person: one Out for the CLI and the REPL."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

from pydantic import BaseModel

from ..syscalls.errno import SyscallError


def to_json(result: BaseModel | dict | list, indent: int | None = 2) -> str:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return json.dumps(data, indent=indent, ensure_ascii=False)


def error_line(err: SyscallError) -> str:
    return f"llmos: {err.code}: {err.message}"


def print_error(err: SyscallError) -> None:
    print(error_line(err), file=sys.stderr)


def short(value, n: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= n else text[: n - 3] + "..."


def call_line(name: str, args) -> str:
    """A call, compactly (a process's step, a chat's tool call)."""
    return f"  ↳ {name} {short(args, 200)}"


def result_line(result) -> str:
    """What a call returned, or its error, compactly."""
    from ..syscalls.errno import SyscallError

    if isinstance(result, SyscallError):
        return f"    = {result.code}: {short(result.message)}"
    value = result.model_dump() if hasattr(result, "model_dump") else result
    if isinstance(value, dict) and set(value) == {"name", "result"}:  # tool.call: the tool's own result
        value = value["result"]
    return f"    = ok {short(value)}"


class Out:
    """Where a command's output goes: stdout (the CLI, the REPL) or `write` (tests, pipe mode).

    Tables are rich tables; colour only on a terminal and never with NO_COLOR set."""

    def __init__(self, write: Callable[[str], None] | None = None, *, err: Callable[[str], None] | None = None,
                 color: bool | None = None):
        self._write = write
        self._err = err
        tty = write is None and sys.stdout.isatty()
        self.color = (tty and "NO_COLOR" not in os.environ) if color is None else color

    def write(self, text: str) -> None:
        if self._write is not None:
            self._write(text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    def note(self, text: str) -> None:
        """Progress and side remarks: stderr in the CLI, inline in the REPL."""
        if self._err is not None:
            self._err(text + "\n")
        elif self._write is not None:
            self._write(text + "\n")
        else:
            print(text, file=sys.stderr, flush=True)

    def json(self, data) -> None:
        self.line(to_json(data))

    def error(self, err: SyscallError) -> None:
        self.note(error_line(err))

    def rich(self, renderable) -> None:
        import io
        import shutil

        from rich.console import Console

        if self.color:
            Console(highlight=False).print(renderable)
            return
        # Plain: as wide as the terminal (a pipe: wide enough not to wrap), no trailing blanks.
        width = shutil.get_terminal_size((200, 24)).columns if self._write is None and sys.stdout.isatty() else 200
        buf = io.StringIO()
        Console(file=buf, no_color=True, highlight=False, width=width, color_system=None).print(renderable)
        self.write("".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines()))

    def table(self, columns: list[str], rows: list[list], *, right: tuple[str, ...] = ()) -> None:
        from rich import box
        from rich.table import Table

        t = Table(box=box.SIMPLE_HEAD if self.color else None, pad_edge=False, show_edge=False,
                  header_style="bold" if self.color else "")
        for c in columns:
            t.add_column(c, justify="right" if c in right else "left", overflow="fold")
        for r in rows:
            t.add_row(*(str(x) for x in r))
        self.rich(t)


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
