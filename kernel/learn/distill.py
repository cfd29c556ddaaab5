"""The plain model's own answers, kept so that tuning it for llmos's protocol does not unteach it.

An adapter trained only on tool calls and short replies under a tools prompt forgets how it
chatted: llmos's first adapter answered 11 points fewer chat questions right and wrote
`max(range(1, 100))` for a function. So the recipe also trains on what the untuned model says
to the prompts a user's chat and the built-in apps send (none of bench/chat_suite's questions):
data/distill_prompts.json, answered into data/distilled.jsonl by apps/distill.py

    python -m llmos.apps.distill [--out kernel/learn/data/distilled.jsonl]

so the recipe is the same on every machine and needs no model to assemble.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
PROMPTS = DATA / "distill_prompts.json"
DISTILLED = DATA / "distilled.jsonl"


def load() -> list[dict]:
    """The distilled rows the recipe trains on (data/distilled.jsonl)."""
    return [json.loads(line) for line in DISTILLED.read_text().splitlines() if line.strip()]
