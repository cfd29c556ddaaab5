"""One command registry for `llmos COMMAND` and `/command` in the REPL.

A command is a name, a one-line help, an argparse builder and a handler `(env, ns) -> int`
that makes its syscalls and renders through `env.out` (shell/render.py), the same way in both
front doors. Command modules are the `cmd_*.py` files of this package; each registers with

    @command("ps", "list processes", args=lambda p: p.add_argument("--all", action="store_true"))
    def ps(env, ns): ...

`where` limits a command to the CLI ("cli") or the REPL ("repl"); the default is both.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..syscalls.errno import Errno, SyscallError


@dataclass
class Command:
    name: str
    help: str
    run: Callable  # (env, ns) -> exit status
    args: Callable[[argparse.ArgumentParser], None] | None = None
    where: tuple[str, ...] = ("cli", "repl")
    usage: str = ""  # how the REPL's /help shows its arguments


COMMANDS: list[Command] = []  # a name may have a CLI and a REPL form (`app`, `model`)


def command(name: str, help: str, *, args=None, where=("cli", "repl"), usage: str = ""):
    def register(fn):
        COMMANDS.append(Command(name, help, fn, args, tuple(where), usage))
        return fn
    return register


def load() -> list[Command]:
    """Import every shell/cmd_*.py (each registers its commands)."""
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"{__package__}.{mod.name}")
    return COMMANDS


def for_(where: str) -> dict[str, Command]:
    """The commands of one front door ("cli" or "repl"), by name, sorted."""
    return {c.name: c for c in sorted(load(), key=lambda c: c.name) if where in c.where}


class LineParser(argparse.ArgumentParser):
    """argparse for a REPL line: a mistake is a SyscallError (EINVAL), never an exit."""

    def error(self, message: str):
        raise SyscallError(Errno.EINVAL, f"{message}; /help {self.prog.lstrip('/')} shows its usage")

    def exit(self, status: int = 0, message: str | None = None):
        raise _Done(message or "")

    def _print_message(self, message, file=None):  # the REPL prints format_help() itself
        pass


class _Done(Exception):
    """-h/--help inside the REPL: argparse printed the help and wants to stop."""


def repl_parser(cmd: Command) -> LineParser:
    p = LineParser(prog=f"/{cmd.name}", description=cmd.help, add_help=True)
    if cmd.args:
        cmd.args(p)
    return p


def parse_line(line: str) -> tuple[Command, argparse.Namespace | None]:
    """`/ps --all` -> (the ps command, its namespace); None when it only asked for --help."""
    name, _, rest = line[1:].partition(" ")
    cmds = for_("repl")
    if name not in cmds:
        raise SyscallError(Errno.ENOSYS, f"unknown command /{name}; /help lists them")
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise SyscallError(Errno.EINVAL, f"cannot split that line: {exc}") from None
    cmd = cmds[name]
    try:
        return cmd, repl_parser(cmd).parse_args(words)
    except _Done:
        return cmd, None
