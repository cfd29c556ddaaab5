"""The llama.cpp driver, on llama-cpp-python's low-level context API.

One model, one context with `n_seq` sequence slots over a unified KV cache, native sampler
chains. Each slot remembers which tokens its KV holds, so a prompt that extends the slot's
last one (a chat, an agent loop) only prefills what is new. The scheduler issue builds
batched decoding and slot save/restore on the same context.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
from pathlib import Path

from .base import Check, DriverError, Generation, ModelInfo, OnText, Sampling, StopScanner

_L = None


def _lib():
    """Import llama_cpp on first use (it is slow to import) and silence its logging."""
    global _L
    if _L is None:
        import logging

        import llama_cpp
        import llama_cpp._logger as llama_logger

        if not os.environ.get("LLMOS_DEBUG"):
            llama_logger.logger.setLevel(logging.CRITICAL + 1)
        llama_cpp.llama_backend_init()
        _L = llama_cpp
    return _L


def check_gguf(path: str | Path) -> Path:
    """Fail with one clear line if `path` is not a readable GGUF file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DriverError("ENOENT", f"model file not found: {p}; give a path to a .gguf file, or --model default")
    if p.is_dir():
        raise DriverError("EISDIR", f"model path is a directory: {p}; give the .gguf file inside it")
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise DriverError("EIO", f"cannot read model file {p}: {exc.strerror}") from None
    if magic != b"GGUF":
        raise DriverError("EINVAL", f"{p} is not a GGUF model file (bad header); check the path or re-download it")
    return p


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppDriver:
    def __init__(
        self,
        path: str | Path,
        *,
        spec: str | None = None,
        n_ctx: int = 8192,
        n_seq: int = 4,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
    ):
        p = check_gguf(path)
        L = _lib()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = n_gpu_layers
        self.model = L.llama_model_load_from_file(str(p).encode(), mp)
        if not self.model:
            raise DriverError(
                "EIO",
                f"llama.cpp could not load {p}: the file is corrupt, truncated or of an unsupported "
                "architecture; re-create it (`llmos model prepare`) or choose another --model",
            )
        self.vocab = L.llama_model_get_vocab(self.model)
        n_ctx_train = L.llama_model_n_ctx_train(self.model)
        self.n_batch = n_batch
        self.n_seq = n_seq
        cp = L.llama_context_default_params()
        cp.n_ctx = min(n_ctx, n_ctx_train) if n_ctx_train > 0 else n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch
        cp.n_seq_max = n_seq
        cp.kv_unified = True
        cp.n_threads = cp.n_threads_batch = n_threads or _threads()
        cp.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise DriverError("EIO", f"llama.cpp could not create a context of {cp.n_ctx} tokens; try a smaller n_ctx")
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(n_batch, 0, n_seq)
        self.slots: list[list[int]] = [[] for _ in range(n_seq)]  # tokens each slot's KV holds
        self._pieces: dict[int, bytes] = {}
        self._bos = L.llama_vocab_bos(self.vocab)
        self._template, self.chat_format = self._pick_template()
        self.info = ModelInfo(
            spec=spec or str(p),
            path=str(p),
            size_bytes=p.stat().st_size,
            n_ctx=L.llama_n_ctx(self.ctx),
            n_ctx_train=n_ctx_train,
            n_vocab=L.llama_vocab_n_tokens(self.vocab),
            chat_format=self.chat_format,
            description=self._desc(),
            n_params=L.llama_model_n_params(self.model),
        )

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        L = _L
        raw = text.encode("utf-8")
        n_max = len(raw) + 8
        arr = (L.llama_token * n_max)()
        n = L.llama_tokenize(self.vocab, raw, len(raw), arr, n_max, add_special, parse_special)
        if n < 0:
            n_max = -n
            arr = (L.llama_token * n_max)()
            n = L.llama_tokenize(self.vocab, raw, len(raw), arr, n_max, add_special, parse_special)
        toks = list(arr[:n])
        if len(toks) >= 2 and toks[0] == toks[1] == self._bos:  # template already had <bos>
            toks = toks[1:]
        return toks

    def piece(self, token: int) -> bytes:
        got = self._pieces.get(token)
        if got is None:
            buf = ctypes.create_string_buffer(64)
            n = _L.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = _L.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            got = buf.raw[:n]
            self._pieces[token] = got
        return got

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def n_ctx(self) -> int:
        return self.info.n_ctx

    # -- chat -----------------------------------------------------------------------------

    def _pick_template(self) -> tuple[bytes, str]:
        tmpl = _L.llama_model_chat_template(self.model, None)
        if tmpl:
            if b"<|im_start|>" in tmpl:
                return tmpl, "chatml"
            if b"<start_of_turn>" in tmpl:
                return tmpl, "gemma"
            return tmpl, "embedded"
        # No template in the file (base models): use the turn format the vocabulary knows.
        if len(self.tokenize("<start_of_turn>", parse_special=True)) == 1:
            return b"gemma", "gemma"
        return b"chatml", "chatml"

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        L = _L
        msgs = (L.llama_chat_message * len(messages))()
        keep = []
        for i, m in enumerate(messages):
            role, content = m["role"].encode(), m["content"].encode()
            keep += [role, content]
            msgs[i].role, msgs[i].content = role, content
        size = 256 + sum(len(x) for x in keep) * 2
        for tmpl in (self._template, b"chatml"):
            buf = ctypes.create_string_buffer(size)
            n = L.llama_chat_apply_template(tmpl, msgs, len(messages), add_generation_prompt, buf, size)
            if n > size:
                buf = ctypes.create_string_buffer(n)
                n = L.llama_chat_apply_template(tmpl, msgs, len(messages), add_generation_prompt, buf, n)
            if n >= 0:
                return buf.raw[:n].decode("utf-8", errors="replace")
        raise DriverError("EIO", "could not apply a chat template for this model")

    # -- decoding -------------------------------------------------------------------------

    def _decode(self, seq: int, tokens: list[int], pos: int) -> None:
        """Append `tokens` to slot `seq` at `pos`, in n_batch chunks; logits for the last one."""
        L, b = _L, self.batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            last = start + len(chunk) == len(tokens)
            for i, t in enumerate(chunk):
                b.token[i] = t
                b.pos[i] = pos + start + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = seq
                b.logits[i] = last and i == len(chunk) - 1
            b.n_tokens = len(chunk)
            rc = L.llama_decode(self.ctx, b)
            if rc == 1:  # no room in the unified KV: drop the other slots' caches and retry
                for other in range(self.n_seq):
                    if other != seq and self.slots[other]:
                        L.llama_memory_seq_rm(self.mem, other, 0, -1)
                        self.slots[other] = []
                rc = L.llama_decode(self.ctx, b)
            if rc != 0:
                raise DriverError("EIO", f"llama_decode failed with code {rc}")
            self.slots[seq].extend(chunk)

    def reset_slot(self, slot: int) -> None:
        """Forget what slot `slot`'s KV holds."""
        _L.llama_memory_seq_rm(self.mem, slot, 0, -1)
        self.slots[slot] = []

    def _sampler(self, s: Sampling):
        L = _L
        sp = L.llama_sampler_chain_default_params()
        sp.no_perf = True
        chain = L.llama_sampler_chain_init(sp)
        if s.grammar:
            g = L.llama_sampler_init_grammar(self.vocab, s.grammar.encode(), b"root")
            if not g:
                L.llama_sampler_free(chain)
                raise DriverError("EINVAL", "the grammar does not parse")
            L.llama_sampler_chain_add(chain, g)
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

    def prompt_tokens(self, prompt: str | list[int], *, special: bool = False) -> list[int]:
        if isinstance(prompt, str):
            return self.tokenize(prompt, add_special=True, parse_special=special)
        return list(prompt)

    def generate(
        self,
        prompt: str | list[int],
        sampling: Sampling,
        *,
        on_text: OnText | None = None,
        check: Check | None = None,
        slot: int = 0,
    ) -> Generation:
        L = _L
        tokens = self.prompt_tokens(prompt)
        if not tokens:
            raise DriverError("EINVAL", "the prompt is empty")
        room = self.info.n_ctx - len(tokens)
        if room <= 0:
            raise DriverError(
                "EFBIG", f"the prompt is {len(tokens)} tokens; the context holds {self.info.n_ctx}: shorten it"
            )
        max_tokens = min(sampling.max_tokens, room)
        cached = self.slots[slot]
        common = 0
        limit = min(len(cached), len(tokens) - 1)  # always decode at least one token for logits
        while common < limit and cached[common] == tokens[common]:
            common += 1
        L.llama_memory_seq_rm(self.mem, slot, common, -1)
        del cached[common:]
        self._decode(slot, tokens[common:], common)

        chain = self._sampler(sampling)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scan = StopScanner(sampling.stop, on_text)
        n_out, finish = 0, "length"
        try:
            while n_out < max_tokens:
                if check is not None:
                    check()
                tok = L.llama_sampler_sample(chain, self.ctx, -1)
                if not sampling.ignore_eos and L.llama_vocab_is_eog(self.vocab, tok):
                    finish = "stop"
                    break
                n_out += 1
                if scan.feed(utf8.decode(self.piece(tok))):
                    finish = "stop"
                    break
                if n_out < max_tokens:
                    self._decode(slot, [tok], len(self.slots[slot]))
        finally:
            L.llama_sampler_free(chain)
        if not scan.stopped:
            scan.feed(utf8.decode(b"", final=True))
        return Generation(scan.finish(), len(tokens), n_out, finish)

    # -- info and teardown ----------------------------------------------------------------

    def _desc(self) -> str:
        buf = ctypes.create_string_buffer(256)
        n = _L.llama_model_desc(self.model, buf, 256)
        return buf.raw[: max(0, n)].decode("utf-8", errors="replace")

    def close(self) -> None:
        L = _L
        if getattr(self, "ctx", None):
            L.llama_batch_free(self.batch)
            L.llama_free(self.ctx)
            L.llama_model_free(self.model)
            self.ctx = None
