"""What the built-in apps share: their arguments, reading input through fs.*, asking the model
through llm.chat, and splitting text that is longer than the window."""

from __future__ import annotations

import re
import shlex

from ...syscalls.errno import Errno, SyscallError

WINDOW_SHARE = 0.4  # of the window one prompt's input may take (the rest: instructions and answer)


def argv(task: str) -> list[str]:
    """The task as a command line (the shell passes a code app its arguments shlex-joined)."""
    try:
        return shlex.split(task)
    except ValueError:
        return task.split()


def take(words: list[str], *names: str, default: str | None = None) -> str | None:
    """Take `--name VALUE` (or `--name=VALUE`) out of `words`; its value or `default`."""
    for i, w in enumerate(words):
        if w in names and i + 1 < len(words):
            value = words[i + 1]
            del words[i:i + 2]
            return value
        if any(w.startswith(n + "=") for n in names):
            del words[i]
            return w.split("=", 1)[1]
    return default


def flag(words: list[str], *names: str) -> bool:
    """Take a `--flag` out of `words`; whether it was there."""
    for i, w in enumerate(words):
        if w in names:
            del words[i]
            return True
    return False


def read_input(sys, words: list[str]) -> tuple[str, str]:
    """(what it is, its text): a file or folder in the workspace (every text file in it), or
    else the words themselves."""
    if len(words) == 1:
        try:
            st = sys.fs.stat(path=words[0])
        except SyscallError as err:
            if err.code not in (Errno.ENOENT, Errno.EINVAL, Errno.ENOTDIR):
                raise
            st = None
        if st is not None:
            if st.type == "dir":
                return words[0], read_folder(sys, words[0])
            return words[0], sys.fs.read(path=words[0]).content
    if not words:
        raise SyscallError(Errno.EINVAL, "give a file, a folder or some text")
    return "text", " ".join(words)


def read_folder(sys, folder: str, limit: int = 200) -> str:
    """Every UTF-8 text file under `folder`, each under a `## path` heading."""
    parts, todo = [], [folder]
    while todo and len(parts) < limit:
        d = todo.pop(0)
        for e in sys.fs.list(path=d).entries:
            path = f"{d.rstrip('/')}/{e.name}" if d not in (".", "") else e.name
            if e.type == "dir":
                todo.append(path)
            elif e.type == "file":
                try:
                    parts.append(f"## {path}\n{sys.fs.read(path=path).content.strip()}")
                except SyscallError as err:
                    if err.code not in (Errno.EINVAL, Errno.EFBIG):  # not text, or too big: left out
                        raise
    if not parts:
        raise SyscallError(Errno.ENOENT, f"no text files in {folder}")
    return "\n\n".join(parts)


def chat(sys, prompt: str, *, system: str | None = None, max_tokens: int = 256, **sampling) -> str:
    """One question to the model through llm.chat (the kernel's generation path); its answer."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    sampling.setdefault("temperature", 0.0)
    return sys.llm.chat(messages=messages, max_tokens=max_tokens, **sampling).text.strip()


def window(sys) -> int:
    return sys.sys.info().window


def tokens(sys, text: str) -> int:
    return sys.llm.tokenize(text=text).count


def split(sys, text: str, max_tokens: int) -> list[str]:
    """`text` in parts of at most about `max_tokens` tokens, cut between paragraphs, else
    sentences, else words."""
    total = tokens(sys, text)
    if total <= max_tokens:
        return [text]
    chars = max(200, int(len(text) * max_tokens / total))  # this text's own characters per token
    pieces = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    units: list[str] = []
    for p in pieces:
        if len(p) <= chars:
            units.append(p)
            continue
        for s in re.split(r"(?<=[.!?])\s+", p):
            while len(s) > chars:
                cut = s.rfind(" ", 0, chars)
                cut = cut if cut > chars // 2 else chars
                units.append(s[:cut])
                s = s[cut:].lstrip()
            if s:
                units.append(s)
    parts, cur = [], ""
    for u in units:
        if cur and len(cur) + len(u) + 2 > chars:
            parts.append(cur)
            cur = u
        else:
            cur = f"{cur}\n\n{u}" if cur else u
    if cur:
        parts.append(cur)
    return parts


STOP = set("""a an and are as at be been but by can did do does for from had has have he her his i if in
into is it its me my no not of on or our she so than that the their them then there these they this
those to too us was we were what when where which who will with would you your""".split())


def key_terms(text: str, n: int = 8) -> list[str]:
    """The words a summary of `text` should keep: its most frequent longer non-stop words."""
    counts: dict[str, int] = {}
    for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text):
        lw = w.lower()
        if lw not in STOP:
            counts[lw] = counts.get(lw, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def trim_repeats(text: str, times: int = 3) -> str:
    """Cut a small model's loop: where a run of 1-12 words comes `times` times in a row, keep
    the text up to the end of its first time."""
    words = text.split(" ")
    for i in range(len(words)):
        for n in range(1, 13):
            run = words[i:i + n]
            if len(run) < n or not "".join(run).strip():
                break
            if all(words[i + k * n:i + (k + 1) * n] == run for k in range(1, times)):
                return " ".join(words[:i + n]).rstrip(" ,;")
    return text
