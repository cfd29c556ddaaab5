"""Folding paged-out messages into a process's running summary.

The model writes the summary; when what it writes is empty, too long or degenerate (a 135M
model loops easily), an extractive summary is used instead: the first sentence of each
paged-out message, newest kept when space runs out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

Count = Callable[[str], int]

PROMPT = (
    "Update the running summary of a conversation. Keep every name, number, date, decision and "
    "fact; drop chit-chat. Write at most {words} words of plain sentences, nothing else.\n\n"
    "Summary so far:\n{prev}\n\nNew messages:\n{transcript}\n\nUpdated summary:"
)
LINE_CHARS = 300  # of one message, in the transcript the model reads and in an extractive line


def transcript(messages: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {_one_line(m['content'], LINE_CHARS)}" for m in messages)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def degenerate(text: str, count: Count, limit: int) -> str | None:
    """Why `text` is unusable as a summary of at most `limit` tokens, or None if it is fine."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < 3:
        return "empty"
    if count(text) > limit:
        return "too long"
    if "<|" in text or "|>" in text:
        return "template tokens"
    if len(words) >= 8 and len(set(words)) / len(words) < 0.4:
        return "repetitive"
    grams = Counter(zip(words, words[1:], words[2:], strict=False))
    if grams and grams.most_common(1)[0][1] >= 4:
        return "repetitive"
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) > 10]
    if len(lines) != len(set(lines)):
        return "repeated lines"
    return None


def first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(\s|$)", flat)
    return _one_line(m.group(1) if m else flat, LINE_CHARS)


def extractive(prev: str, messages: list[dict], count: Count, limit: int) -> str:
    """prev's lines plus one line per message, oldest dropped until it fits in `limit` tokens."""
    lines = [ln for ln in prev.splitlines() if ln.strip()]
    lines += [f"- {m['role']}: {first_sentence(m['content'])}" for m in messages if m["content"].strip()]
    while lines and count("\n".join(lines)) > limit:
        lines.pop(0)
    if not lines and messages:  # one line alone is too long: cut it to fit
        return fit(f"- {messages[-1]['role']}: {first_sentence(messages[-1]['content'])}", limit, count)
    return "\n".join(lines)


def fit(text: str, limit: int, count: Count, *, keep: str = "head") -> str:
    """The longest head (or tail) of `text` that counts at most `limit` tokens."""
    if limit <= 0:
        return ""
    if count(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on characters: count is monotone enough for this
        mid = (lo + hi + 1) // 2
        piece = text[:mid] if keep == "head" else text[len(text) - mid :]
        if count(piece) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] if keep == "head" else text[len(text) - lo :]


def summarize(generate: Callable[[str, int], str] | None, prev: str, messages: list[dict],
              count: Count, limit: int) -> tuple[str, str]:
    """(summary, "model" or "extractive:<why>"); `generate(prompt, max_tokens)` asks the model."""
    if generate is None:
        return extractive(prev, messages, count, limit), "extractive: no model"
    prompt = PROMPT.format(words=max(20, int(limit * 0.6)), prev=prev or "(none yet)",
                           transcript=transcript(messages))
    try:
        text = generate(prompt, limit + 1).strip()
    except Exception as exc:  # the driver failed: the pager must still make progress
        return extractive(prev, messages, count, limit), f"extractive: model failed ({type(exc).__name__})"
    why = degenerate(text, count, limit)
    if why:
        return extractive(prev, messages, count, limit), f"extractive: model summary {why}"
    return text, "model"
