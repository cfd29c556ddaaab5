"""Model cards: how each bundled model was trained to be talked to.

A card holds the sampling a model's authors recommend and its own default system prompt
(None: the model was trained to answer without one). Chat front ends (the shell, apps) start
from the card and let the user override it; nothing else keeps these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Card:
    name: str
    sampling: dict = field(default_factory=dict)  # SamplingParams fields (drivers/base.py)
    system: str | None = None  # the model's own default system prompt; None: none


# SmolLM2's model card: temperature 0.2, top_p 0.9. Its answers are short; 256 tokens is a
# sensible ceiling for one chat turn (it ends its turn with <|im_end|> well before that).
SMOLLM2 = Card("SmolLM2", {"temperature": 0.2, "top_p": 0.9, "max_tokens": 256})
# Gemma 3's generation_config: temperature 1.0, top_k 64, top_p 0.95 (a base model here).
GEMMA3 = Card("Gemma 3", {"temperature": 1.0, "top_k": 64, "top_p": 0.95, "max_tokens": 256})
GENERIC = Card("generic", {"max_tokens": 256})

# Matched against the spec and the weights' file name, lower-cased.
_BY_NAME = (("smollm2", SMOLLM2), ("gemma-3", GEMMA3), ("gemma3", GEMMA3))
_ALIASES = {"default": SMOLLM2, "gemma": GEMMA3}


def card(spec: str, path: str | Path | None = None) -> Card:
    """The card for a model spec (default, gemma-3-270m, a .gguf path, ...)."""
    if spec in _ALIASES:
        return _ALIASES[spec]
    names = [spec.lower()] + ([Path(path).name.lower()] if path else [])
    for needle, found in _BY_NAME:
        if any(needle in n for n in names):
            return found
    return GENERIC
