"""code: writes code for a request into the workspace; it never runs it.

    llmos app run code "a function that reverses a string" [--out rev.py] [--lang python]

Python must parse (ast.parse; nothing is executed): code that does not is sent back to the
model with the error to fix, then cut back to its longest part that parses (a reply cut off
mid-function); if none of that gives a function or a few statements, nothing is written and the
app says why.
"""

from __future__ import annotations

import ast
import re

from ...syscalls.errno import Errno, SyscallError
from ..sdk import App
from .common import argv, chat, take

EXT = {"python": "py", "javascript": "js", "typescript": "ts", "bash": "sh", "shell": "sh", "c": "c",
       "rust": "rs", "go": "go", "java": "java", "ruby": "rb", "sql": "sql", "html": "html"}
SYSTEM = "You are a careful programmer. Answer with code only, in one fenced code block."
TRIES = 2  # the model fixes its own syntax error at most this often


def code_block(text: str) -> str:
    """The code in a reply: its first fenced block, else the whole reply."""
    m = re.search(r"```[\w+-]*\n(.*?)(```|$)", text, re.S)
    return (m.group(1) if m else text).strip("\n")


def parse_error(code: str) -> str | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # e.g. a null byte
        return str(exc)
    return None


def substantial(code: str) -> bool:
    """Parses and is more than imports: a def or class, or at least two statements."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in body) or len(body) >= 2


def longest_parsing_prefix(code: str) -> str:
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):
        head = "\n".join(lines[:end]).rstrip()
        if head and parse_error(head) is None and substantial(head):
            return head + "\n"
    return ""


def write_python(sys, request: str) -> tuple[str, str]:
    """(code that parses, how it was got); EIO when the model gives none."""
    prompt = f"Write Python code for this request: {request}\nReply with only the code in a ```python block."
    reply = chat(sys, prompt, system=SYSTEM, max_tokens=512)
    code = code_block(reply)
    for attempt in range(TRIES + 1):
        err = parse_error(code)
        if err is None and substantial(code):
            return code.rstrip() + "\n", "as written" if attempt == 0 else f"fixed by the model ({attempt})"
        if attempt == TRIES:
            break
        why = err or "it does not define a function or do anything"
        fix = (f"This Python code has a problem ({why}):\n```python\n{code}\n```\n"
               f"Write the corrected code for: {request}\nReply with only the code in a ```python block.")
        code = code_block(chat(sys, fix, system=SYSTEM, max_tokens=512))
    cut = longest_parsing_prefix(code)
    if cut:
        return cut, "cut back to the part that parses"
    raise SyscallError(Errno.EIO, f"the model's Python does not parse ({parse_error(code) or 'nothing usable'}) "
                                  "after fixing; nothing was written; ask for something smaller")


def file_name(request: str, ext: str) -> str:
    words = [w for w in re.findall(r"[a-z0-9]+", request.lower()) if w not in ("a", "an", "the", "that", "write")]
    return "_".join(words[:4] or ["code"]) + f".{ext}"


def main(sys, task: str) -> str:
    words = argv(task)
    lang = take(words, "--lang", "-l", default="python").lower()
    out = take(words, "--out", "-o")
    request = " ".join(words).strip()
    if not request:
        raise SyscallError(Errno.EINVAL, "say what the code should do, e.g. \"a function that adds two numbers\"")
    if lang == "python":
        code, how = write_python(sys, request)
    else:
        code = code_block(chat(sys, f"Write {lang} code for this request: {request}\n"
                                    f"Reply with only the code in a ```{lang} block.", system=SYSTEM, max_tokens=512))
        how = "not checked (only Python is parsed)"
        if not code.strip():
            raise SyscallError(Errno.EIO, "the model wrote no code; ask again in other words")
        code += "\n"
    path = out or file_name(request, EXT.get(lang, "txt"))
    sys.fs.write(path=path, content=code, parents=True)
    return f"wrote {path} ({len(code.splitlines())} lines, {how}; not run)"


CAPS = ["fs.write", "fs.mkdir", "fs.stat", "llm.chat"]

app = App({
    "name": "code",
    "description": "Writes code for a request into the workspace (never runs it); Python is checked to parse.",
    "kind": "code",
    "capabilities": CAPS,
    "default_grants": CAPS,  # a built-in: granted what it asks
    "workspace": "shared",
    "max_tokens": 8192,
}, main=main)
