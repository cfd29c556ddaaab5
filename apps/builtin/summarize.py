"""summarize: a file, a folder or stdin (text) to a summary of a requested length.

    llmos app run summarize notes.txt [--words 60]
    cat report.txt | llmos app run summarize --words 40

Input longer than what fits in one prompt is split into parts, each part summarized, and the
part summaries combined the same way until one is left (map-reduce). A summary the model gets
wrong (empty, no shorter than its input, or sharing none of its key terms) is asked for again
in other words; failing that, the app falls back to the input's own sentences that carry the
most key terms and says so.
"""

from __future__ import annotations

import re

from ...syscalls.errno import Errno, SyscallError
from ..sdk import App
from .common import (
    WINDOW_SHARE,
    argv,
    chat,
    key_terms,
    read_input,
    split,
    take,
    tokens,
    trim_repeats,
    window,
)

PROMPTS = (
    "Summarize the following text in at most {words} words. Keep its key names and terms.\n\n"
    "Text:\n{text}\n\nSummary:",
    "Write a short summary ({words} words or fewer) of this text:\n\n{text}",
)


def words_of(text: str) -> list[str]:
    return text.split()


def clip(text: str, words: int) -> str:
    """At most `words` words, ending at a sentence end where one is near."""
    ws = text.split()
    if len(ws) <= words:
        return text.strip()
    cut = " ".join(ws[:words])
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "), cut.rfind(".") if cut.endswith(".") else -1)
    return cut[: end + 1] if end > len(cut) // 2 else cut + "…"


def good(summary: str, source: str) -> bool:
    """What a reader checks: there is one, it is shorter than its input, it keeps some key term,
    and it is not one phrase repeated."""
    ws = [w.lower() for w in re.findall(r"[A-Za-z']+", summary)]
    if not ws or len(summary) >= len(source):
        return False
    terms = set(key_terms(source))
    if not terms & set(ws):
        return False
    return len(set(ws)) >= max(3, len(ws) // 4)


def extract(text: str, words: int) -> str:
    """The input's own sentences that carry the most key terms, in their order, up to `words`."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.split()) >= 3]
    if not sentences:
        return clip(text, words)
    terms = key_terms(text, 12)
    ranked = sorted(range(len(sentences)), key=lambda i: -sum(t in sentences[i].lower() for t in terms))
    picked, used = [], 0
    for i in ranked:
        n = len(sentences[i].split())
        if used and used + n > words:
            continue
        picked.append(i)
        used += n
        if used >= words:
            break
    return clip(" ".join(sentences[i] for i in sorted(picked)), words)


def summarize_once(sys, text: str, words: int) -> tuple[str, bool]:
    """(summary, whether the model wrote it) of text that fits in one prompt."""
    for prompt in PROMPTS:
        out = clip(trim_repeats(chat(sys, prompt.format(words=words, text=text), max_tokens=min(512, 2 * words + 32))),
                   words)
        if good(out, text):
            return out, True
    return extract(text, words), False


def summarize(sys, text: str, words: int = 60) -> tuple[str, dict]:
    """Map-reduce: (the summary, how it was made)."""
    budget = max(128, int(window(sys) * WINDOW_SHARE))
    stats = {"parts": 0, "rounds": 0, "extractive": 0}
    while True:
        parts = split(sys, text, budget)
        stats["rounds"] += 1
        if len(parts) == 1:
            out, by_model = summarize_once(sys, text, words)
            stats["parts"] += 1
            stats["extractive"] += not by_model
            return out, stats
        # map: each part to a summary a little longer than the final one; reduce: summarize those
        part_words = max(words, 2 * words // len(parts) + 20)
        outs = []
        for p in parts:
            out, by_model = summarize_once(sys, p, part_words)
            stats["parts"] += 1
            stats["extractive"] += not by_model
            outs.append(out)
        combined = "\n\n".join(outs)
        if tokens(sys, combined) >= tokens(sys, text):  # no progress: cut instead of looping
            return clip(combined, words), stats
        text = combined


def main(sys, task: str) -> str:
    words = argv(task)
    length = take(words, "--words", "-n", default="60")
    if not length.isdigit() or not 5 <= int(length) <= 2000:
        raise SyscallError(Errno.EINVAL, f"--words {length}: give a number of words from 5 to 2000")
    _, text = read_input(sys, words)
    out, stats = summarize(sys, text, int(length))
    if stats["extractive"]:
        out += f"\n\n(summarize: {stats['extractive']} of {stats['parts']} parts are the text's own sentences; " \
               "the model's summary did not hold)"
    return out


CAPS = ["fs.read", "fs.list", "fs.stat", "llm.chat", "llm.tokenize", "sys.info"]

app = App({
    "name": "summarize",
    "description": "Summarizes a file, a folder or stdin to a requested length (long input: map-reduce).",
    "kind": "code",
    "capabilities": CAPS,
    "default_grants": CAPS,  # a built-in: granted what it asks
    "max_tokens": 16384,
}, main=main)
