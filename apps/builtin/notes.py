"""notes: remember, list, search and forget notes, kept in archival memory through mem.*.

    llmos app run notes remember "the dentist is on Tuesday at 3"
    llmos app run notes list
    llmos app run notes search dentist
    llmos app run notes forget 12
"""

from __future__ import annotations

import time

from ...syscalls.errno import Errno, SyscallError
from ..sdk import App
from .common import argv

TAG = "note"  # every note is filed under this tag (other apps' memories are left alone)
LIMIT = 50  # mem.recall's most hits


def line(hit) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.ts))
    return f"[{hit.id}] {when}  {hit.text}"


def notes(sys, query: str, k: int = LIMIT) -> list:
    hits = sys.mem.recall(query=query, k=k, sources=["archival"]).hits
    return [h for h in hits if TAG in h.tags]


def main(sys, task: str) -> str:
    words = argv(task)
    verb = words.pop(0).lower() if words else "list"
    rest = " ".join(words).strip()
    if verb in ("remember", "add", "note"):
        if not rest:
            raise SyscallError(Errno.EINVAL, "say what to remember: notes remember TEXT")
        got = sys.mem.remember(text=rest, tags=[TAG])
        return f"remembered [{got.id}] {rest}"
    if verb in ("list", "ls"):
        found = sorted(notes(sys, TAG), key=lambda h: h.ts)
        return "\n".join(line(h) for h in found) or "no notes yet; notes remember TEXT adds one"
    if verb in ("search", "find"):
        if not rest:
            raise SyscallError(Errno.EINVAL, "say what to look for: notes search WORDS")
        found = notes(sys, rest, 10)
        return "\n".join(line(h) for h in found) or f"no note matches {rest!r}"
    if verb in ("forget", "rm", "remove"):
        if not rest.isdigit():
            raise SyscallError(Errno.EINVAL, "give the note's number: notes forget ID (notes list shows them)")
        if not any(h.id == int(rest) for h in notes(sys, TAG)):
            raise SyscallError(Errno.ENOENT, f"no note [{rest}]; notes list shows them")
        sys.mem.forget(id=int(rest))
        return f"forgot [{rest}]"
    raise SyscallError(Errno.EINVAL, f"unknown notes command {verb!r}; use remember, list, search or forget")


CAPS = ["mem.remember", "mem.recall", "mem.forget"]

app = App({
    "name": "notes",
    "description": "Remembers, lists, searches and forgets your notes (in llmos's memory).",
    "kind": "code",
    "capabilities": CAPS,
    "default_grants": CAPS,  # a built-in: granted what it asks
}, main=main)
