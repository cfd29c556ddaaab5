"""translate: text or a file into a target language.

    llmos app run translate "Good morning, how are you?" --to French
    llmos app run translate letter.txt --to Spanish [--out letter.es.txt]

Text longer than one prompt is translated a part at a time. An answer that only echoes its
input is asked for again in other words; if it still does, the app says so instead of passing
the input off as a translation.
"""

from __future__ import annotations

import re

from ...syscalls.errno import Errno, SyscallError
from ..sdk import App
from .common import WINDOW_SHARE, argv, chat, read_input, split, take, trim_repeats, window

PROMPTS = (
    "Translate the following text into {lang}. Reply with the {lang} translation only.\n\n{text}",
    "{text}\n\nTranslate the text above into {lang}:",
)


def norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def differs(out: str, source: str) -> bool:
    """A translation is there and is not its input again."""
    a, b = norm(out), norm(source)
    return bool(a) and a != b and not (len(b) > 20 and b in a)


def translate_once(sys, text: str, lang: str) -> str:
    limit = min(1024, 2 * len(text) // 3 + 48)  # about a token per 3 characters, with room
    for prompt in PROMPTS:
        stop = [] if "\n\n" in text.strip() else ["\n\n"]  # one paragraph in, one out
        out = trim_repeats(chat(sys, prompt.format(lang=lang, text=text), max_tokens=limit, stop=stop))
        out = re.sub(r"^(translation|here is the translation)[^:\n]*:\s*", "", out, flags=re.I).strip()
        if differs(out, text):
            return out
    raise SyscallError(Errno.EIO, f"the model did not translate into {lang} (it repeated its input); "
                                  "try shorter text or another model")


def translate(sys, text: str, lang: str) -> str:
    budget = max(96, int(window(sys) * WINDOW_SHARE / 2))  # the answer needs as much room again
    return "\n\n".join(translate_once(sys, part, lang) for part in split(sys, text, budget))


def main(sys, task: str) -> str:
    words = argv(task)
    lang = take(words, "--to", "-t", default="French").strip()
    out_path = take(words, "--out", "-o")
    if not lang or len(lang) > 40:
        raise SyscallError(Errno.EINVAL, "--to LANGUAGE: name the language, e.g. --to French")
    _, text = read_input(sys, words)
    result = translate(sys, text, lang)
    if out_path:
        sys.fs.write(path=out_path, content=result + "\n", parents=True)
    return result


CAPS = ["fs.read", "fs.stat", "fs.list", "fs.write", "llm.chat", "llm.tokenize", "sys.info"]

app = App({
    "name": "translate",
    "description": "Translates text or a file into a target language (--to LANGUAGE, default French).",
    "kind": "code",
    "capabilities": CAPS,
    "default_grants": CAPS,  # a built-in: granted what it asks
    "max_tokens": 16384,
}, main=main)
