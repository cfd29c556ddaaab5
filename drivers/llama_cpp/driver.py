"""The llama.cpp driver: one model, one context with `n_seq` slots, on the shared step engine.

Each slot has its own KV stream of `n_ctx` cells (llama.cpp's non-unified KV cache). Why one
stream per slot, not one cache shared by all (kv_unified): llama.cpp's attention sums over a
sequence's cells in cell order, so the same tokens placed in a different order of cells give
different floats, and a greedy continuation can flip at a near-tie. In a shared cache a
sequence's cells land wherever there are holes (after another slot is freed, or its KV swapped
back in); in its own stream they are always in position order, exactly as when the sequence
ran alone. So a process's output does not depend on what else ran beside it, or on being
swapped out and in. Attention also reads only the sequence's own cells, which makes a batched
step cheaper. The cost: each slot's capacity is fixed (`n_ctx` per slot), and sharing a prefix
between slots copies its KV (llama_state_seq_get/set_data) instead of sharing cells.

`save_slot`/`restore_slot` copy one slot's KV out and back with llama_state_seq_get/set_data
(the scheduler swaps processes with them; never Llama.save_state, which copies all logits).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from ..base import DriverError, ModelInfo, Sampling
from ..engine import KVFull, Seq, SlotEngine
from ..errno import Errno
from .lib import check_gguf, cpu_threads, extra_bufts, lib
from .sampler import Sampler, chain_for

KV_TYPES = {"f16": 1, "q8_0": 8}  # ggml_type values


class LlamaCppDriver(SlotEngine):
    def __init__(
        self,
        path: str | Path,
        *,
        spec: str | None = None,
        n_ctx: int = 4096,
        n_seq: int = 4,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        kv_type: str = "q8_0",
        lora: str | Path | None = None,
        lora_scale: float = 1.0,
    ):
        p = check_gguf(path)
        L = lib()
        if kv_type not in KV_TYPES:
            raise DriverError(Errno.EINVAL, f"unknown KV type {kv_type!r}; use one of {', '.join(KV_TYPES)}")
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = n_gpu_layers
        mp.use_extra_bufts = extra_bufts()
        self.model = L.llama_model_load_from_file(str(p).encode(), mp)
        if not self.model:
            raise DriverError(
                Errno.EIO,
                f"llama.cpp could not load {p}: the file is corrupt, truncated or of an unsupported "
                "architecture; re-create it (`llmos model prepare`) or choose another --model",
            )
        self.vocab = L.llama_model_get_vocab(self.model)
        n_ctx_train = L.llama_model_n_ctx_train(self.model)
        self.n_batch = n_batch
        self.n_seq = n_seq
        cp = L.llama_context_default_params()
        per_slot = min(n_ctx, n_ctx_train) if n_ctx_train > 0 else n_ctx
        cp.n_ctx = per_slot * n_seq  # llama.cpp splits it evenly between the slots' streams
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch
        cp.n_seq_max = n_seq
        cp.kv_unified = False  # one KV stream per slot: see the module docstring
        # 8-bit KV: half the memory and swap images of f16; llama.cpp's CPU attention over q8_0
        # keys is faster (batched steps of 16 slots ~20%); and it has one code path for every
        # batch shape, where f16 past 512 cells is split across threads for a lone query and
        # tiled for many, so a sequence's floats would depend on what shares its step.
        cp.type_k = cp.type_v = KV_TYPES[kv_type]
        self.kv_type = kv_type
        cp.n_threads = cp.n_threads_batch = n_threads or cpu_threads()
        cp.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise DriverError(Errno.EIO, f"llama.cpp could not create a context of {n_seq} x {per_slot} tokens; "
                                         "try a smaller n_ctx or fewer slots")
        self.adapter = None
        if lora is not None:
            self._apply_lora(Path(lora), lora_scale)
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(n_batch, 0, n_seq)
        self._init_slots()
        self._pieces: dict[int, bytes] = {}
        self._grammars: dict[str, object] = {}  # grammar text -> parsed sampler (cloned per use)
        self._grammar_memo: dict[str | None, dict[bytes, object]] = {}  # see Sampler
        self._bos = L.llama_vocab_bos(self.vocab)
        self._template, self.chat_format = self._pick_template()
        self.info = ModelInfo(
            spec=spec or str(p),
            path=str(p),
            size_bytes=p.stat().st_size,
            n_ctx=L.llama_n_ctx_seq(self.ctx),  # what one slot (one process) can hold
            n_ctx_train=n_ctx_train,
            n_vocab=L.llama_vocab_n_tokens(self.vocab),
            chat_format=self.chat_format,
            description=self._desc(),
            n_params=L.llama_model_n_params(self.model),
        )

    def _apply_lora(self, path: Path, scale: float) -> None:
        """Load a LoRA adapter GGUF (llmos learn train) and apply it to every sequence."""
        L = lib()
        p = check_gguf(path)
        self.adapter = L.llama_adapter_lora_init(self.model, str(p).encode())
        if not self.adapter:
            L.llama_free(self.ctx)
            L.llama_model_free(self.model)
            raise DriverError(Errno.EIO, f"llama.cpp could not load the LoRA adapter {p}: it does not fit this "
                                         "model (another base?) or is corrupt; train it again on this base")
        adapters = (L.llama_adapter_lora_p_ctypes * 1)(self.adapter)
        scales = (ctypes.c_float * 1)(scale)
        if L.llama_set_adapters_lora(self.ctx, adapters, 1, scales) != 0:
            L.llama_free(self.ctx)
            L.llama_model_free(self.model)  # frees its adapters too
            raise DriverError(Errno.EIO, f"llama.cpp could not apply the LoRA adapter {p}")

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        L = lib()
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
            n = lib().llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = lib().llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            got = buf.raw[:n]
            self._pieces[token] = got
        return got

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def prompt_tokens(self, prompt: str | list[int], *, special: bool = False) -> list[int]:
        if isinstance(prompt, str):
            return self.tokenize(prompt, add_special=True, parse_special=special)
        return list(prompt)

    def is_eog(self, token: int) -> bool:
        return bool(lib().llama_vocab_is_eog(self.vocab, token))

    # -- chat -----------------------------------------------------------------------------

    def _pick_template(self) -> tuple[bytes, str]:
        tmpl = lib().llama_model_chat_template(self.model, None)
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
        L = lib()
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
        raise DriverError(Errno.EIO, "could not apply a chat template for this model")

    # -- grammars and samplers ------------------------------------------------------------

    def _grammar(self, text: str):
        """A fresh grammar sampler; the parsed grammar is cached per text and cloned."""
        L = lib()
        cached = self._grammars.get(text)
        if cached is None:
            cached = L.llama_sampler_init_grammar(self.vocab, text.encode(), b"root")
            if not cached:
                raise DriverError(Errno.EINVAL, "the grammar does not parse")
            self._grammars[text] = cached
        return L.llama_sampler_clone(cached)

    def grammar_accepts(self, grammar: str, text: str, *, complete: bool = True) -> bool:
        """Whether `grammar` admits `text` (token by token, as decoding would feed it)."""
        L = lib()
        g = self._grammar(grammar)
        one = (L.llama_token_data * 1)()
        arr = L.llama_token_data_array(one, 1, -1, False)
        try:
            tokens = self.tokenize(text)
            if complete:
                tokens.append(L.llama_vocab_eos(self.vocab))
            for tok in tokens:
                one[0].id, one[0].logit, one[0].p = tok, 0.0, 0.0
                arr.size, arr.selected = 1, -1
                L.llama_sampler_apply(g, ctypes.byref(arr))
                if one[0].logit == float("-inf"):
                    return False
                L.llama_sampler_accept(g, tok)
            return True
        finally:
            L.llama_sampler_free(g)

    def sampler(self, s: Sampling) -> Sampler:
        L = lib()
        chain = chain_for(L, s, self.info.n_vocab)
        try:
            grammar = self._grammar(s.grammar) if s.grammar else None
        except DriverError:
            L.llama_sampler_free(chain)
            raise
        return Sampler(self, s, chain, grammar, s.grammar)

    def _sampler(self, sampling: Sampling, prompt: list[int]) -> Sampler:
        return self.sampler(sampling)

    # -- the engine's decode --------------------------------------------------------------

    def _open_ctx(self):
        """The context, or EIO once closed (llama.cpp would read freed memory and crash)."""
        if not self.ctx:
            raise DriverError(Errno.EIO, "the model was closed; boot the kernel again")
        return self.ctx

    def _decode(self, plan: list[tuple[Seq, int]]) -> list[int]:
        self._open_ctx()
        L, b = lib(), self.batch
        n, rows = 0, []
        for s, k in plan:
            pos, slot, toks = len(self.slots[s.slot]), s.slot, s.pending
            for i in range(k):
                b.token[n + i] = toks[i]
                b.pos[n + i] = pos + i
                b.n_seq_id[n + i] = 1
                b.seq_id[n + i][0] = slot
                b.logits[n + i] = False
            if k == len(toks):
                b.logits[n + k - 1] = True
            n += k
            rows.append(n - 1)
        b.n_tokens = n
        rc = self.decoder.call(L.llama_decode, self.ctx, b)
        if rc == 1:
            raise KVFull(f"a slot's KV ({self.info.n_ctx} tokens) has no room for this step")
        if rc != 0:
            raise DriverError(Errno.EIO, f"llama_decode failed with code {rc}")
        return rows

    def _kv_keep(self, slot: int, n: int) -> None:
        self._open_ctx()
        lib().llama_memory_seq_rm(self.mem, slot, n, -1)

    # -- slot save/restore (KV virtual memory) --------------------------------------------

    def save_slot(self, slot: int) -> bytes:
        """A copy of slot `slot`'s KV (llama_state_seq_get_data; its tokens are `self.slots[slot]`)."""
        L = lib()
        with self.lock:
            if not self.slots[slot]:
                return b""
            size = L.llama_state_seq_get_size(self._open_ctx(), slot)
            buf = (ctypes.c_uint8 * size)()
            n = L.llama_state_seq_get_data(self.ctx, buf, size, slot)
            if n == 0:
                raise DriverError(Errno.EIO, f"could not read slot {slot}'s KV")
            return ctypes.string_at(buf, n)

    def restore_slot(self, slot: int, data, tokens: list[int]) -> None:
        """Load KV saved by save_slot (bytes, or any writable buffer such as an mmap) into `slot`,
        which then holds `tokens`. Raises KVFull (the slot left empty) if its stream has no room."""
        L = lib()
        with self.lock:
            self.reset_slot(slot)
            if not tokens:
                return
            n = len(data)
            try:
                ptr = (ctypes.c_uint8 * n).from_buffer(data)
            except TypeError:  # read-only bytes: point at them, no copy
                ptr = ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_uint8))
            if L.llama_state_seq_set_data(self.ctx, ptr, n, slot) == 0:
                L.llama_memory_seq_rm(self.mem, slot, 0, -1)
                raise KVFull(f"no room in slot {slot}'s KV ({self.info.n_ctx} tokens) to restore {len(tokens)}")
            self.slots[slot] = list(tokens)

    def slot_bytes(self, slot: int) -> int:
        """How many bytes slot `slot`'s KV takes (what save_slot would return)."""
        with self.lock:  # a closed driver (ctx freed) holds nothing
            return lib().llama_state_seq_get_size(self.ctx, slot) if self.ctx and self.slots[slot] else 0

    # -- info and teardown ----------------------------------------------------------------

    def _desc(self) -> str:
        buf = ctypes.create_string_buffer(256)
        n = lib().llama_model_desc(self.model, buf, 256)
        return buf.raw[: max(0, n)].decode("utf-8", errors="replace")

    def close(self) -> None:
        L = lib()
        if getattr(self, "ctx", None):
            with self.lock:
                for g in self._grammars.values():
                    L.llama_sampler_free(g)
                self._grammars.clear()
                L.llama_batch_free(self.batch)
                L.llama_free(self.ctx)
                if getattr(self, "adapter", None):
                    L.llama_adapter_lora_free(self.adapter)
                    self.adapter = None
                L.llama_model_free(self.model)
                self.ctx = None
