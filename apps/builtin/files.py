"""files: find, read and organize files in your workspace through fs.*.

    llmos app run files find "*.md"          # names matching a pattern, anywhere below
    llmos app run files find budget          # names containing a word
    llmos app run files read notes/todo.txt
    llmos app run files organize [FOLDER]    # shows the plan: each file into a folder by kind
    llmos app run files organize --apply     # and does it
"""

from __future__ import annotations

import fnmatch

from ...syscalls.errno import Errno, SyscallError
from ..sdk import App
from .common import argv, flag

KINDS = {
    "documents": {"txt", "md", "rst", "pdf", "doc", "docx", "odt", "rtf", "tex"},
    "code": {"py", "js", "ts", "sh", "c", "h", "cpp", "rs", "go", "java", "rb", "html", "css", "sql", "ipynb"},
    "data": {"csv", "json", "jsonl", "yaml", "yml", "toml", "xml", "tsv", "parquet", "db", "sqlite"},
    "images": {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp"},
    "archives": {"zip", "tar", "gz", "tgz", "bz2", "xz", "7z"},
}
MOST = 2000  # files walked at most


def walk(sys, top: str = "."):
    """(path, size) of every file below `top`, breadth first."""
    todo, seen = [top], 0
    while todo:
        d = todo.pop(0)
        for e in sys.fs.list(path=d).entries:
            path = e.name if d in (".", "") else f"{d.rstrip('/')}/{e.name}"
            if e.type == "dir":
                todo.append(path)
            elif e.type == "file":
                seen += 1
                yield path, e.size
                if seen >= MOST:
                    return


def find(sys, pattern: str) -> str:
    glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    hits = [f"{p}  ({size} bytes)" for p, size in walk(sys)
            if fnmatch.fnmatch(p.lower(), glob.lower()) or fnmatch.fnmatch(p.rsplit("/", 1)[-1].lower(), glob.lower())]
    return "\n".join(hits) or f"no file matches {pattern!r}"


def kind_of(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""
    return next((k for k, exts in KINDS.items() if ext in exts), "other" if ext else None)


def plan(sys, top: str) -> list[tuple[str, str]]:
    """(from, to) for each file directly in `top` that is not yet in its kind's folder."""
    moves = []
    for e in sys.fs.list(path=top).entries:
        if e.type != "file" or e.name.startswith("."):
            continue
        kind = kind_of(e.name)
        if kind is None:
            continue
        src = e.name if top in (".", "") else f"{top.rstrip('/')}/{e.name}"
        dst = f"{kind}/{e.name}" if top in (".", "") else f"{top.rstrip('/')}/{kind}/{e.name}"
        moves.append((src, dst))
    return moves


def move(sys, src: str, dst: str) -> None:
    """fs has no rename: copy (bytes as they are), check, then remove the original."""
    try:
        sys.fs.stat(path=dst)
        raise SyscallError(Errno.EEXIST, f"{dst} already exists; {src} was left where it is")
    except SyscallError as err:
        if err.code != Errno.ENOENT:
            raise
    data = sys.fs.read(path=src, encoding="base64")
    sys.fs.write(path=dst, content=data.content, encoding="base64", parents=True)
    if sys.fs.stat(path=dst).size != data.size:
        raise SyscallError(Errno.EIO, f"copying {src} to {dst} came out short; {src} was kept")
    sys.fs.remove(path=src)


def organize(sys, top: str, apply: bool) -> str:
    moves = plan(sys, top)
    if not moves:
        return f"nothing to organize in {top}"
    lines = [f"{src} -> {dst}" for src, dst in moves]
    if not apply:
        return "\n".join(lines + ["(a plan: run `files organize --apply` to move them)"])
    done, failed = 0, []
    for src, dst in moves:
        try:
            move(sys, src, dst)
            done += 1
        except SyscallError as err:
            if err.code in (Errno.EINTR, Errno.EDQUOT, Errno.EACCES):
                raise
            failed.append(f"{src}: {err.code}: {err.message}")
    return "\n".join(lines + [f"moved {done} of {len(moves)}"] + failed)


def main(sys, task: str) -> str:
    words = argv(task)
    verb = words.pop(0).lower() if words else "find"
    if verb in ("find", "ls", "list"):
        return find(sys, " ".join(words) or "*")
    if verb in ("read", "cat", "show"):
        if len(words) != 1:
            raise SyscallError(Errno.EINVAL, "name one file: files read PATH")
        return sys.fs.read(path=words[0]).content
    if verb == "organize":
        apply = flag(words, "--apply")
        return organize(sys, words[0] if words else ".", apply)
    raise SyscallError(Errno.EINVAL, f"unknown files command {verb!r}; use find, read or organize")


app = App({
    "name": "files",
    "description": "Finds, reads and organizes the files in your workspace (organize --apply moves them).",
    "kind": "code",
    "capabilities": ["fs.*"],
    "default_grants": ["fs.read", "fs.list", "fs.stat", "fs.write", "fs.mkdir", "fs.remove"],
    "workspace": "shared",
}, main=main)
