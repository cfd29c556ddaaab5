"""llmos's action grammars (GBNF) for transformers, through llguidance.

The kernel hands every driver GBNF (syscalls/grammar.py, built by llama.cpp's JSON-Schema
converter). llguidance reads it through its own GBNF-to-Lark translation, after one rewrite:
the converter spells a string of at most N characters as N nested optionals
`(char (char ... (char)?)?)?`, which nests past what both the translator (Python recursion)
and llguidance's parser accept; `char{0,N}` is the same language, flat.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..base import DriverError
from ..errno import Errno

_INNER = re.compile(r"\(([\w-]+)\)\?")  # (x)?        -> x{0,1}
_OUTER = re.compile(r"\(([\w-]+) \1\{0,(\d+)\}\)\?")  # (x x{0,n})? -> x{0,n+1}


def flatten(gbnf: str) -> str:
    """`gbnf` with every bounded repetition written as nested optionals folded into x{0,N}."""
    while True:
        out = _OUTER.sub(lambda m: f"{m.group(1)}{{0,{int(m.group(2)) + 1}}}", _INNER.sub(r"\1{0,1}", gbnf))
        if out == gbnf:
            return out
        gbnf = out


@lru_cache(maxsize=64)
def to_lark(gbnf: str) -> str:
    """The Lark text llguidance compiles, for one GBNF grammar (root rule `root`)."""
    from llguidance.gbnf_to_lark import gbnf_to_lark

    try:
        return gbnf_to_lark(flatten(gbnf))
    except (RecursionError, ValueError, KeyError) as exc:
        raise DriverError(Errno.EINVAL, f"the grammar does not parse: {type(exc).__name__}") from None


class Matcher:
    """One sequence's grammar state: which tokens may come next; accepts the chosen one."""

    def __init__(self, ll_tokenizer, gbnf: str):
        import llguidance

        self._ll = llguidance
        self.m = llguidance.LLMatcher(ll_tokenizer, llguidance.grammar_from("lark", to_lark(gbnf)))
        if self.m.is_error():
            raise DriverError(Errno.EINVAL, f"the grammar does not parse: {self.m.get_error()}")

    def mask(self, logits, bitmask) -> None:
        """Set every token the grammar forbids here to -inf in `logits` (1-D float tensor)."""
        from llguidance.torch import apply_token_bitmask_inplace, fill_next_token_bitmask

        fill_next_token_bitmask(self.m, bitmask, 0)
        apply_token_bitmask_inplace(logits, bitmask)

    def allows(self, token: int) -> bool:
        return bool(self.m.validate_tokens([token]))

    def accept(self, token: int) -> None:
        if not self.m.consume_token(token):
            raise DriverError(Errno.EIO, f"the grammar rejected token {token}: {self.m.get_error()}")

    def accepting(self) -> bool:
        return self.m.is_accepting()
