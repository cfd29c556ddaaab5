"""Turning `key=value` words into syscall arguments."""

from __future__ import annotations

import json
import shlex

from ..syscalls.errno import Errno, SyscallError


def parse_value(text: str):
    """A value that parses as JSON is JSON (numbers, true, lists...), else it is a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(words: list[str]) -> dict:
    out: dict = {}
    for w in words:
        key, sep, value = w.partition("=")
        if not sep or not key:
            raise SyscallError(Errno.EINVAL, f"argument {w!r} is not key=value; e.g. path=notes.txt")
        out[key] = parse_value(value)
    return out


def parse_json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SyscallError(Errno.EINVAL, f"--args-json is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SyscallError(Errno.EINVAL, "--args-json must be a JSON object, e.g. '{\"path\": \"notes.txt\"}'")
    return value


def split_call_line(line: str) -> tuple[str, dict]:
    """`fs.read path=notes.txt` -> ("fs.read", {"path": "notes.txt"}), shell-quoting allowed."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise SyscallError(Errno.EINVAL, f"cannot split that line: {exc}") from None
    if not words:
        raise SyscallError(Errno.EINVAL, "name a syscall, e.g. /call sys.info")
    return words[0], parse_pairs(words[1:])
