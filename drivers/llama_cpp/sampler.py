"""A llama.cpp sequence's sampler: a native sampler chain plus a grammar applied lazily."""

from __future__ import annotations

import ctypes
import random

from ..base import DriverError, Sampling
from ..errno import Errno
from .lib import lib


def chain_for(L, s: Sampling, n_vocab: int):
    """A native sampler chain for `s` (without the grammar)."""
    sp = L.llama_sampler_chain_default_params()
    sp.no_perf = True
    chain = L.llama_sampler_chain_init(sp)
    if s.repeat_penalty != 1.0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_penalties(n_vocab, 64, s.repeat_penalty, 0.0, 0.0))
    if s.temperature <= 0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
    else:
        if s.top_k > 0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_k(s.top_k))
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_p(s.top_p, 1))
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(s.temperature))
        seed = s.seed if s.seed is not None else random.getrandbits(32)
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain


class Sampler:
    """One sequence's sampler: a native chain, plus an optional grammar applied lazily.

    Masking a 262k-token vocabulary with a grammar on every token is what makes constrained
    decoding slow. Instead (as llama.cpp's common_sampler does) the chain picks a token
    unconstrained and the grammar checks just that one token. Only when it is rejected does
    the grammar look further: first at the TOP_K most likely tokens (the best allowed among
    them is the best allowed overall, so greedy decoding stays exact), then, if none of those
    is allowed, at the whole vocabulary. A whole-vocabulary scan that finds only a few allowed
    tokens is remembered by the text generated so far (the grammar's state is a function of
    it), so the next action that reaches the same point skips the scan.
    """

    TOP_K = 256
    REMEMBER_AT_MOST = 64  # allowed tokens, for a scan to be worth remembering

    def __init__(self, driver, sampling: Sampling, chain, grammar, grammar_key: str | None = None):
        L = lib()
        self.d = driver
        self.chain = chain
        self.grammar = grammar
        self.fast = self.topk = self.remembered = self.full = 0
        # Greedy without penalties is an argmax: numpy's over the logits row takes ~20 us where
        # llama_sampler_sample, which first copies the whole vocabulary into a candidate array,
        # takes ~150 us; at 16 sequences a step that is a few percent of the batched decode.
        self.argmax = sampling.temperature <= 0 and sampling.repeat_penalty == 1.0
        import numpy as np

        self._np = np
        self._n = driver.info.n_vocab
        if grammar is not None:
            self._buf = np.zeros(self._n, dtype=np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)]))
            self._arr = L.llama_token_data_array(self._buf.ctypes.data_as(L.llama_token_data_p), 1, -1, False)
            self._ids = np.arange(self._n, dtype=np.int32)
            self._memo = driver._grammar_memo.setdefault(grammar_key, {})
            self._text = b""

    def _apply(self, ids, logits, *, remember: bool = False) -> int:
        """Grammar, then chain, over candidates `ids`; the chosen token, or -1 if none is allowed.
        `remember`: keep the allowed ids for this text (read before the chain, which sorts and
        cuts the candidates in place)."""
        L, np, n = lib(), self._np, len(ids)
        buf = self._buf
        buf["id"][:n] = ids
        buf["logit"][:n] = logits[ids] if ids is not self._ids else logits
        buf["p"][:n] = 0.0
        arr = self._arr
        arr.size, arr.selected, arr.sorted = n, -1, False
        L.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        ok = np.isfinite(buf["logit"][:n])
        if not ok.any():
            return -1
        if remember and ok.sum() <= self.REMEMBER_AT_MOST and len(self._memo) < 100_000:
            self._memo[self._text] = buf["id"][:n][ok].copy()
        L.llama_sampler_apply(self.chain, ctypes.byref(arr))
        return int(buf["id"][arr.selected])

    def _logits(self, idx: int):
        return self._np.ctypeslib.as_array(lib().llama_get_logits_ith(self.d.ctx, idx), shape=(self._n,))

    def sample(self, idx: int) -> int:
        L, ctx = lib(), self.d.ctx
        if self.argmax:  # the greedy chain's choice (the first of equal maxima, as llama.cpp's)
            tok = int(self._logits(idx).argmax())
        else:
            tok = L.llama_sampler_sample(self.chain, ctx, idx)
        g = self.grammar
        if g is None:
            return tok
        buf, arr = self._buf, self._arr
        buf["id"][0], buf["logit"][0], buf["p"][0] = tok, 0.0, 0.0
        arr.size, arr.selected, arr.sorted = 1, -1, False
        L.llama_sampler_apply(g, ctypes.byref(arr))
        if buf["logit"][0] != float("-inf"):
            self.fast += 1
        else:
            np = self._np
            logits = self._logits(idx)
            known = self._memo.get(self._text)
            tok = -1
            if known is not None:
                self.remembered += 1
                tok = self._apply(known, logits)
            if tok < 0:
                self.topk += 1
                tok = self._apply(np.argpartition(logits, -self.TOP_K)[-self.TOP_K :], logits)
                if tok < 0:
                    self.full += 1
                    tok = self._apply(self._ids, logits, remember=True)
            if tok < 0:
                raise DriverError(Errno.EIO, "the grammar allows no token here")
            L.llama_sampler_accept(self.chain, tok)
        L.llama_sampler_accept(g, tok)
        self._text += self.d.piece(tok)
        return tok

    def free(self) -> None:
        L = lib()
        L.llama_sampler_free(self.chain)
        if self.grammar is not None:
            L.llama_sampler_free(self.grammar)
        self.chain = self.grammar = None


