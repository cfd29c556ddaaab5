"""The plain model's answers to what a user's chat and the built-in apps send: the rows that keep
llmos's adapter from unteaching chat (kernel/learn/distill.py says why).

  chat        a question as the shell's chat sends it (no system prompt: the card's)
  code        the code app's request (its system prompt and its wording)
  summarize   the summarize app's first prompt
  translate   the translate app's first prompt

each answered greedily by the plain default model through llm.chat, as the apps call it.
Answers cut at max_tokens are left out (they would teach stopping mid-sentence).

    python -m llmos.apps.distill [--out kernel/learn/data/distilled.jsonl] [--model default-q8_0]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..kernel.learn.distill import DISTILLED, PROMPTS
from .builtin import code, summarize, translate

LANGS = ("French", "Spanish")  # translate prompts alternate between them
SUMMARY_WORDS = 30


def requests() -> list[tuple[str, list[dict], dict]]:
    """(kind, the messages the app sends, its other llm.chat fields) for every prompt, in file order."""
    p = json.loads(PROMPTS.read_text())
    out = [("chat", [{"role": "user", "content": q}], {"max_tokens": 256}) for q in p["questions"]]
    out += [("code", [{"role": "system", "content": code.SYSTEM},
                      {"role": "user", "content": f"Write Python code for this request: {r}\n"
                                                  "Reply with only the code in a ```python block."}], {"max_tokens": 512})
            for r in p["code"]]
    out += [("summarize", [{"role": "user", "content": summarize.PROMPTS[0].format(words=SUMMARY_WORDS, text=t)}],
             {"max_tokens": 2 * SUMMARY_WORDS + 32})
            for t in p["summarize"]]
    out += [("translate", [{"role": "user", "content": translate.PROMPTS[0].format(lang=LANGS[i % 2], text=t)}],
             {"max_tokens": 96, "stop": ["\n\n"]})
            for i, t in enumerate(p["translate"])]
    return out


def answer_all(kernel) -> list[dict]:
    """Each request answered by `kernel`'s model, greedily: training rows, cut answers left out."""
    rows = []
    for kind, messages, fields in requests():
        r = kernel.call("llm.chat", {"messages": messages, **fields, "temperature": 0.0})
        text = r.text.strip()
        if r.finish_reason == "length" or not text:
            continue
        rows.append({"messages": [*messages, {"role": "assistant", "content": text}],
                     "meta": {"source": "distill", "family": kind}})
    return rows


def main(argv: list[str]) -> int:
    import argparse

    from ..kernel import Kernel

    p = argparse.ArgumentParser(prog="python -m llmos.apps.distill", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DISTILLED)
    p.add_argument("--model", default="default", help="the untuned model whose answers are kept (default: default)")
    a = p.parse_args(argv)
    with Kernel.boot(Path(tempfile.mkdtemp(prefix="llmos-distill-")), model=a.model) as k:
        rows = answer_all(k)
    a.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} of {len(requests())} answers kept in {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
