"""The llama.cpp driver, on llama-cpp-python's low-level context API.

One model, one context with `n_seq` sequence slots, native sampler chains. Each slot has its
own KV stream of `n_ctx` cells (llama.cpp's non-unified KV cache) and remembers which tokens
it holds, so a prompt that extends the slot's last one (a chat, an agent loop) only prefills
what is new.

Why one stream per slot, not one cache shared by all (kv_unified): llama.cpp's attention sums
over a sequence's cells in cell order, so the same tokens placed in a different order of cells
give different floats, and a greedy continuation can flip at a near-tie. In a shared cache a
sequence's cells land wherever there are holes (after another slot is freed, or its KV
swapped back in); in its own stream they are always in position order, exactly as when the
sequence ran alone. So a process's output does not depend on what else ran beside it, or on
being swapped out and in. Attention also reads only the sequence's own cells, which makes a
batched step cheaper. The cost: each slot's capacity is fixed (`n_ctx` per slot), and sharing
a prefix between slots copies its KV (llama_state_seq_get/set_data) instead of sharing cells.

Decoding is a step engine (`open_seq`, `step`): each step is one `llama_decode` carrying the
next token of every decoding sequence plus prompt chunks of prefilling ones, and each sequence
samples from its own row of logits with its own native sampler chain; `generate` is that
engine driving one sequence. `save_slot`/`restore_slot` copy one slot's KV out and back with
llama_state_seq_get/set_data (kernel/scheduler.py swaps processes with them).
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import threading
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


def _extra_bufts() -> bool:
    """Whether llama.cpp may repack weights into its extra CPU buffer types.

    Not where the build has AMX: ggml's AMX matmul segfaults on the first multi-token decode on
    some Sapphire Rapids hosts (llama.cpp issues #20824, PR #26954: tile permission is granted
    to the main thread only), as it did on this project's build machine. Without extra buffer
    types the weights stay in plain CPU memory and the AVX-512/AVX2 kernels run them.
    LLMOS_EXTRA_BUFTS=1 (or 0) forces the choice.
    """
    forced = os.environ.get("LLMOS_EXTRA_BUFTS")
    if forced in ("0", "1"):
        return forced == "1"
    return b"AMX_INT8 = 1" not in _L.llama_print_system_info()


KV_TYPES = {"f16": 1, "q8_0": 8}  # ggml_type values


class DecodeThread:
    """The one thread that ever runs llama_decode in this process.

    llama.cpp computes a graph on an OpenMP team led by the calling thread, and every new
    calling thread gets a team of its own. With more OpenMP threads than CPUs, libgomp stops
    spin-waiting between parallel sections and sleeps instead (GOMP_SPINCOUNT's throttled
    value), and from then on every decode in the process runs at about a third of its speed
    (measured on the 2-core machine: 10.7 ms a token from one thread; 28 ms from any thread,
    the first included, once a second thread had decoded). So every decode is handed to this
    thread; the hand-off costs two thread wake-ups, tens of microseconds against milliseconds.
    """

    def __init__(self):
        import queue

        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="llmos-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            fn, args, box, done = self._jobs.get()
            try:
                box.append(fn(*args))
            except BaseException as exc:  # handed back to the caller
                box.append(exc)
            done.release()

    def call(self, fn, *args):
        if threading.get_ident() == self._thread.ident:
            return fn(*args)
        box: list = []
        done = threading.Lock()
        done.acquire()
        self._jobs.put((fn, args, box, done))
        done.acquire()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


_decoder: DecodeThread | None = None
_decoder_lock = threading.Lock()


def decode_thread() -> DecodeThread:
    """The process's decode thread, shared by every driver (started on first use)."""
    global _decoder
    with _decoder_lock:
        if _decoder is None:
            _decoder = DecodeThread()
        return _decoder


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
        n_ctx: int = 4096,
        n_seq: int = 4,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        kv_type: str = "q8_0",
    ):
        p = check_gguf(path)
        L = _lib()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = n_gpu_layers
        mp.use_extra_bufts = _extra_bufts()
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
        if kv_type not in KV_TYPES:
            raise DriverError("EINVAL", f"unknown KV type {kv_type!r}; use one of {', '.join(KV_TYPES)}")
        cp.type_k = cp.type_v = KV_TYPES[kv_type]
        self.kv_type = kv_type
        cp.n_threads = cp.n_threads_batch = n_threads or _threads()
        cp.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise DriverError("EIO", f"llama.cpp could not create a context of {n_seq} x {per_slot} tokens; "
                                     "try a smaller n_ctx or fewer slots")
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(n_batch, 0, n_seq)
        self.slots: list[list[int]] = [[] for _ in range(n_seq)]  # tokens each slot's KV holds
        self._epoch = [0] * n_seq  # bumped whenever a slot's KV changes other than by a Seq's step
        self.lock = threading.RLock()  # one thread at a time on the context
        self._decoder = decode_thread()
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

    @staticmethod
    def _common(a: list[int], b: list[int], limit: int) -> int:
        n = 0
        while n < limit and a[n] == b[n]:
            n += 1
        return n

    def _reuse_prefix(self, slot: int, tokens: list[int]) -> int:
        """Keep the longest prefix of `tokens` already in KV; return how many tokens are there.

        First the slot's own cache; if another slot holds a longer common prefix (processes
        that share a system prompt), that slot's KV is copied into this one and cut to the
        shared part (llama_state_seq_get/set_data: a memory copy, far cheaper than prefilling
        it again; llama_memory_seq_cp would copy the donor's whole stream, lazily, at the next
        decode) instead of prefilling it.
        """
        L = _L
        limit = len(tokens) - 1  # always decode at least one token, for fresh logits
        own = self.slots[slot]
        common = self._common(own, tokens, min(len(own), limit))
        best, donor = common, None
        for other, toks in enumerate(self.slots):
            if other != slot and len(toks) > best:
                n = self._common(toks, tokens, min(len(toks), limit))
                # worth a copy of the donor's whole KV when it saves more than a little prefill
                if n > best and n - common >= max(16, len(toks) // 64):
                    best, donor = n, other
        if donor is not None:
            try:
                self.restore_slot(slot, self.save_slot(donor), self.slots[donor])
            except DriverError:
                donor, best = None, 0
                self.reset_slot(slot)
        L.llama_memory_seq_rm(self.mem, slot, best, -1)
        del self.slots[slot][best:]
        return best

    def reset_slot(self, slot: int) -> None:
        """Forget what slot `slot`'s KV holds."""
        with self.lock:
            _L.llama_memory_seq_rm(self.mem, slot, 0, -1)
            self.slots[slot] = []
            self._epoch[slot] += 1

    def _grammar(self, text: str):
        """A fresh grammar sampler; the parsed grammar is cached per text and cloned."""
        L = _L
        cached = self._grammars.get(text)
        if cached is None:
            cached = L.llama_sampler_init_grammar(self.vocab, text.encode(), b"root")
            if not cached:
                raise DriverError("EINVAL", "the grammar does not parse")
            self._grammars[text] = cached
        return L.llama_sampler_clone(cached)

    def grammar_accepts(self, grammar: str, text: str, *, complete: bool = True) -> bool:
        """Whether `grammar` admits `text` (token by token, as decoding would feed it)."""
        L = _L
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
        L = _L
        sp = L.llama_sampler_chain_default_params()
        sp.no_perf = True
        chain = L.llama_sampler_chain_init(sp)
        if s.repeat_penalty != 1.0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_penalties(self.info.n_vocab, 64, s.repeat_penalty, 0.0, 0.0))
        if s.temperature <= 0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        else:
            if s.top_k > 0:
                L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_k(s.top_k))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_p(s.top_p, 1))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(s.temperature))
            seed = s.seed if s.seed is not None else random.getrandbits(32)
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        try:
            grammar = self._grammar(s.grammar) if s.grammar else None
        except DriverError:
            L.llama_sampler_free(chain)
            raise
        return Sampler(self, chain, grammar, s.grammar)

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
        with self.lock:
            seq = self.open_seq(prompt, sampling, slot=slot, on_text=on_text)
            try:
                while not seq.done:
                    if check is not None:
                        check()
                    self.step([seq])
            finally:
                seq.close()
        if seq.error is not None:
            raise seq.error
        return seq.result()

    # -- the step engine: many sequences, one llama_decode per step -------------------------

    def open_seq(self, prompt: str | list[int], sampling: Sampling, *, slot: int = 0,
                 on_text: OnText | None = None) -> Seq:
        """Start a generation on `slot`, keeping any prefix of the prompt already in KV."""
        tokens = self.prompt_tokens(prompt)
        if not tokens:
            raise DriverError("EINVAL", "the prompt is empty")
        room = self.info.n_ctx - len(tokens)
        if room <= 0:
            raise DriverError(
                "EFBIG", f"the prompt is {len(tokens)} tokens; the context holds {self.info.n_ctx}: shorten it"
            )
        with self.lock:
            seq = Seq(tokens, sampling, self.sampler(sampling), on_text, min(sampling.max_tokens, room))
            if seq.max_tokens <= 0:
                seq.end("length")
            else:
                self.attach(seq, slot)
        return seq

    def attach(self, seq: Seq, slot: int) -> None:
        """Put `seq` on `slot`: what the KV there (or in another slot) holds of it is kept, the rest
        becomes `seq.pending`. Also how a sequence resumes after its slot was restored or changed."""
        with self.lock:
            common = self._reuse_prefix(slot, seq.history)
            seq.slot = slot
            seq.pending = seq.history[common:]
            self._epoch[slot] += 1
            seq.epoch = self._epoch[slot]

    def step(self, seqs: list[Seq], *, chunk: int | None = None) -> list[Seq]:
        """One llama_decode for all of `seqs`: the next token of each decoding sequence, then
        prompt chunks (at most `chunk` tokens each) of prefilling ones while the batch has room.
        Each sequence whose prompt is done samples its next token from its own logits row.
        Returns the sequences that finished. Raises KVFull (nothing changed) if a slot's stream
        has no room (open_seq bounds max_tokens by the slot's capacity, so it should not)."""
        L, b = _L, self.batch
        chunk = chunk or self.n_batch
        with self.lock:
            live = [s for s in seqs if not s.done]
            for s in live:
                if s.epoch != self._epoch[s.slot]:  # someone else used the slot: resume from what is left
                    self.attach(s, s.slot)
            live.sort(key=lambda s: len(s.pending) > 1)  # decoding sequences first, then prefills
            room, plan = self.n_batch, []
            for s in live:
                if room == 0:
                    break
                k = min(len(s.pending), room, chunk)
                plan.append((s, k))
                room -= k
            if not plan:
                return []
            # In slot order: llama.cpp computes the slots of a step in one pass only where their
            # ids are consecutive in the batch (per-slot KV streams are split that way).
            plan.sort(key=lambda p: p[0].slot)
            n, starts = 0, []
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
                starts.append(n)
                n += k
            b.n_tokens = n
            rc = self._decoder.call(L.llama_decode, self.ctx, b)
            if rc == 1:
                raise KVFull("ENOSPC", f"a slot's KV ({self.info.n_ctx} tokens) has no room for this step")
            if rc != 0:
                raise DriverError("EIO", f"llama_decode failed with code {rc}")
            finished = []
            for (s, k), start in zip(plan, starts, strict=True):
                self.slots[s.slot].extend(s.pending[:k])
                del s.pending[:k]
                if not s.pending:
                    try:
                        self._advance(s, start + k - 1)
                    except DriverError as exc:  # this sequence's sampler failed: it alone ends
                        s.error = exc
                        s.end("error")
                    if s.done:
                        finished.append(s)
            return finished

    def _advance(self, s: Seq, idx: int) -> None:
        """Sample `s`'s next token from batch row `idx`; it becomes pending, or `s` ends."""
        tok = s.sampler.sample(idx)
        if not s.sampling.ignore_eos and _L.llama_vocab_is_eog(self.vocab, tok):
            s.end("stop")
            return
        s.n_out += 1
        if s.scan.feed(s.utf8.decode(self.piece(tok))):
            s.end("stop")
        elif s.n_out >= s.max_tokens:
            s.end("length")
        else:
            s.history.append(tok)
            s.pending = [tok]

    # -- slot save/restore (KV virtual memory) --------------------------------------------

    def save_slot(self, slot: int) -> bytes:
        """A copy of slot `slot`'s KV (llama_state_seq_get_data; its tokens are `self.slots[slot]`)."""
        L = _L
        with self.lock:
            if not self.slots[slot]:
                return b""
            size = L.llama_state_seq_get_size(self.ctx, slot)
            buf = (ctypes.c_uint8 * size)()
            n = L.llama_state_seq_get_data(self.ctx, buf, size, slot)
            if n == 0:
                raise DriverError("EIO", f"could not read slot {slot}'s KV")
            return ctypes.string_at(buf, n)

    def restore_slot(self, slot: int, data, tokens: list[int]) -> None:
        """Load KV saved by save_slot (bytes, or any writable buffer such as an mmap) into `slot`,
        which then holds `tokens`. Raises KVFull (the slot left empty) if its stream has no room."""
        L = _L
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
                raise KVFull("ENOSPC", f"no room in slot {slot}'s KV ({self.info.n_ctx} tokens) to restore {len(tokens)}")
            self.slots[slot] = list(tokens)

    def slot_bytes(self, slot: int) -> int:
        """How many bytes slot `slot`'s KV takes (what save_slot would return)."""
        with self.lock:
            return _L.llama_state_seq_get_size(self.ctx, slot) if self.slots[slot] else 0

    # -- info and teardown ----------------------------------------------------------------

    def _desc(self) -> str:
        buf = ctypes.create_string_buffer(256)
        n = _L.llama_model_desc(self.model, buf, 256)
        return buf.raw[: max(0, n)].decode("utf-8", errors="replace")

    def close(self) -> None:
        L = _L
        if getattr(self, "ctx", None):
            for g in self._grammars.values():
                L.llama_sampler_free(g)
            self._grammars.clear()
            L.llama_batch_free(self.batch)
            L.llama_free(self.ctx)
            L.llama_model_free(self.model)
            self.ctx = None


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

    def __init__(self, driver: LlamaCppDriver, chain, grammar, grammar_key: str | None = None):
        L = _L
        self.d = driver
        self.chain = chain
        self.grammar = grammar
        self.fast = self.topk = self.remembered = self.full = 0
        if grammar is not None:
            import numpy as np

            self._np = np
            self._n = driver.info.n_vocab
            self._buf = np.zeros(self._n, dtype=np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)]))
            self._arr = L.llama_token_data_array(self._buf.ctypes.data_as(L.llama_token_data_p), 1, -1, False)
            self._ids = np.arange(self._n, dtype=np.int32)
            self._memo = driver._grammar_memo.setdefault(grammar_key, {})
            self._text = b""

    def _apply(self, ids, logits) -> int:
        """Grammar, then chain, over candidates `ids`; the chosen token, or -1 if none is allowed."""
        L, np, n = _L, self._np, len(ids)
        buf = self._buf
        buf["id"][:n] = ids
        buf["logit"][:n] = logits[ids] if ids is not self._ids else logits
        buf["p"][:n] = 0.0
        arr = self._arr
        arr.size, arr.selected, arr.sorted = n, -1, False
        L.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        if not np.isfinite(buf["logit"][:n]).any():
            return -1
        L.llama_sampler_apply(self.chain, ctypes.byref(arr))
        return int(buf["id"][arr.selected])

    def sample(self, idx: int) -> int:
        L, ctx = _L, self.d.ctx
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
            logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, idx), shape=(self._n,))
            known = self._memo.get(self._text)
            if known is not None:
                self.remembered += 1
                tok = self._apply(known, logits)
            else:
                self.topk += 1
                tok = self._apply(np.argpartition(logits, -self.TOP_K)[-self.TOP_K :], logits)
                if tok < 0:
                    self.full += 1
                    tok = self._apply(self._ids, logits)
                    allowed = self._ids[np.isfinite(self._buf["logit"])]
                    if len(allowed) <= self.REMEMBER_AT_MOST and len(self._memo) < 100_000:
                        self._memo[self._text] = allowed.copy()
            if tok < 0:
                raise DriverError("EIO", "the grammar allows no token here")
            L.llama_sampler_accept(self.chain, tok)
        L.llama_sampler_accept(g, tok)
        self._text += self.d.piece(tok)
        return tok

    def free(self) -> None:
        L = _L
        L.llama_sampler_free(self.chain)
        if self.grammar is not None:
            L.llama_sampler_free(self.grammar)
        self.chain = self.grammar = None


class KVFull(DriverError):
    """A slot's KV stream has no room for a step or a restore; nothing was decoded."""


class Seq:
    """One generation on a slot, advanced a batched step at a time (LlamaCppDriver.step).

    `history` is the prompt and every sampled token still to be decoded or decoded; the slot's
    KV holds all of it but `pending` (the rest of the prompt, or the last sampled token). So a
    sequence can leave its slot between steps (save_slot, reset) and come back to any slot
    (restore_slot, attach) and continue exactly where it was; its sampler keeps its own state.
    """

    def __init__(self, tokens: list[int], sampling: Sampling, sampler: Sampler, on_text: OnText | None,
                 max_tokens: int):
        self.history = list(tokens)
        self.n_prompt = len(tokens)
        self.pending: list[int] = []
        self.slot = -1
        self.epoch = -1
        self.sampling = sampling
        self.sampler: Sampler | None = sampler
        self.max_tokens = max_tokens
        self.n_out = 0
        self.finish: str | None = None
        self.error: DriverError | None = None  # why it ended, if finish is "error"
        self.text = ""
        self.scan = StopScanner(sampling.stop, on_text)
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def done(self) -> bool:
        return self.finish is not None

    def end(self, finish: str) -> None:
        if not self.scan.stopped:
            self.scan.feed(self.utf8.decode(b"", final=True))
        self.text = self.scan.finish()
        self.finish = finish
        self.close()

    def close(self) -> None:
        """Free the native sampler (a sequence dropped unfinished reads as cancelled)."""
        if self.sampler is not None:
            self.sampler.free()
            self.sampler = None

    def result(self) -> Generation:
        return Generation(self.text if self.done else self.scan.text, self.n_prompt, self.n_out,
                          self.finish or "cancelled")
