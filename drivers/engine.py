"""The step engine every driver shares: sequence slots, prefix reuse, batched steps, one CPU.

A driver holds `n_seq` slots; each slot's KV (or the scripted driver's stand-in for it) holds a
list of tokens. A generation is a `Seq`: `open_seq` puts it on a slot, keeping whatever prefix
of its prompt the slot (or another slot) already holds, and each `step` advances every given
sequence by one batched decode: the next token of each decoding sequence, then prompt chunks
of prefilling ones. A sequence can leave its slot between steps (`save_slot`, reset) and come
back to any slot (`restore_slot`, `attach`) and continue exactly where it stopped.

What differs between drivers is small and abstract here: how to tokenize, how to decode a
planned batch (`_decode`), how to sample one row (`_sampler`), and how to drop, save and
restore a slot's KV. The kernel's scheduler drives every driver through this one path.

`DecodeThread` is the process's one thread that runs decode steps: the scheduler's ticks run
on it (so a step needs no hand-off), and so does any other decode call.
"""

from __future__ import annotations

import codecs
import queue
import threading
from collections.abc import Callable

from .base import DriverError, Generation, OnText, Sampling, StopScanner
from .errno import Errno


class KVFull(DriverError):
    """A slot's KV has no room for a step or a restore; nothing was decoded."""

    def __init__(self, message: str):
        super().__init__(Errno.ENOSPC, message)


class Seq:
    """One generation on a slot, advanced a batched step at a time (SlotEngine.step).

    `history` is the prompt and every sampled token; the slot's KV holds all of it but
    `pending` (the rest of the prompt, or the last sampled token). Its sampler keeps its own
    state, so the sequence continues exactly where it was after a swap.
    """

    def __init__(self, tokens: list[int], sampling: Sampling, sampler, on_text: OnText | None, max_tokens: int):
        self.history = list(tokens)
        self.n_prompt = len(tokens)
        self.pending: list[int] = []
        self.slot = -1
        self.epoch = -1
        self.sampling = sampling
        self.sampler = sampler  # has .sample(row) -> token and .free()
        self.max_tokens = max_tokens
        self.n_out = 0
        self.finish: str | None = None
        self.error: DriverError | None = None  # why it ended, if finish is "error"
        self.text = ""
        self.scan = StopScanner(sampling.stop, on_text)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def done(self) -> bool:
        return self.finish is not None

    def feed(self, piece: bytes) -> bool:
        """Add one token's bytes to the text; True once a stop string appeared."""
        return self.scan.feed(self._utf8.decode(piece))

    def end(self, finish: str) -> None:
        if not self.scan.stopped:
            self.scan.feed(self._utf8.decode(b"", final=True))
        self.text = self.scan.finish()
        self.finish = finish
        self.close()

    def close(self) -> None:
        """Free the sampler (a sequence dropped unfinished reads as cancelled)."""
        if self.sampler is not None:
            self.sampler.free()
            self.sampler = None

    def result(self) -> Generation:
        return Generation(self.text if self.done else self.scan.text, self.n_prompt, self.n_out,
                          self.finish or "cancelled")


class SlotEngine:
    """What every driver's step engine has in common. Subclasses set `info`, `n_seq`, `n_batch`,
    call `_init_slots()`, and implement the methods marked abstract below."""

    n_seq: int
    n_batch: int

    def _init_slots(self) -> None:
        self.slots: list[list[int]] = [[] for _ in range(self.n_seq)]  # tokens each slot's KV holds
        self._epoch = [0] * self.n_seq  # bumped whenever a slot's KV changes other than by a Seq's step
        self.lock = threading.RLock()  # one thread at a time on the slots
        self.decoder = decode_thread()

    # -- abstract ---------------------------------------------------------------------------

    def prompt_tokens(self, prompt: str | list[int]) -> list[int]:
        raise NotImplementedError

    def piece(self, token: int) -> bytes:
        raise NotImplementedError

    def is_eog(self, token: int) -> bool:
        raise NotImplementedError

    def _sampler(self, sampling: Sampling, prompt: list[int]):
        """A sampler for one sequence: .sample(row) -> token, .free()."""
        raise NotImplementedError

    def _decode(self, plan: list[tuple[Seq, int]]) -> list[int]:
        """Decode the first k pending tokens of each (seq, k) (in slot order) in one call; return
        for each the row its logits are in (meaningful where k covers all its pending)."""
        raise NotImplementedError

    def _kv_keep(self, slot: int, n: int) -> None:
        """Drop the KV of slot `slot` from position `n` on."""
        raise NotImplementedError

    def save_slot(self, slot: int) -> bytes:
        raise NotImplementedError

    def restore_slot(self, slot: int, data, tokens: list[int]) -> None:
        raise NotImplementedError

    def slot_bytes(self, slot: int) -> int:
        raise NotImplementedError

    # -- slots ------------------------------------------------------------------------------

    def n_ctx(self) -> int:
        return self.info.n_ctx

    def reset_slot(self, slot: int) -> None:
        """Forget what slot `slot`'s KV holds."""
        with self.lock:
            self._kv_keep(slot, 0)
            self.slots[slot] = []
            self._epoch[slot] += 1

    def _clear_for_restore(self, slot: int, tokens: list[int]) -> bool:
        """Empty `slot` before a restore of `tokens`; False when there is nothing to load, KVFull
        when they cannot fit (the slot left empty). Called with the lock held."""
        self.reset_slot(slot)
        if not tokens:
            return False
        if len(tokens) > self.info.n_ctx:
            raise KVFull(f"no room in slot {slot}'s KV ({self.info.n_ctx} tokens) to restore {len(tokens)}")
        return True

    @staticmethod
    def _common(a: list[int], b: list[int], limit: int) -> int:
        n = 0
        while n < limit and a[n] == b[n]:
            n += 1
        return n

    def _reuse_prefix(self, slot: int, tokens: list[int]) -> int:
        """Keep the longest prefix of `tokens` already in KV; return how many tokens are there.

        First the slot's own KV; if another slot holds a longer common prefix (processes that
        share a system prompt), that slot's KV is copied into this one and cut to the shared
        part: a memory copy, far cheaper than prefilling it again.
        """
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
        self._kv_keep(slot, best)
        del self.slots[slot][best:]
        return best

    # -- sequences --------------------------------------------------------------------------

    def open_seq(self, prompt: str | list[int], sampling: Sampling, *, slot: int = 0,
                 on_text: OnText | None = None) -> Seq:
        """Start a generation on `slot`, keeping any prefix of the prompt already in KV."""
        tokens = self.prompt_tokens(prompt)
        if not tokens:
            raise DriverError(Errno.EINVAL, "the prompt is empty")
        room = self.info.n_ctx - len(tokens)
        if room <= 0:
            raise DriverError(Errno.EFBIG, f"the prompt is {len(tokens)} tokens; the context holds {self.info.n_ctx}: shorten it")
        with self.lock:
            seq = Seq(tokens, sampling, self._sampler(sampling, tokens), on_text, min(sampling.max_tokens, room))
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
        """One decode for all of `seqs`: the next token of each decoding sequence, then prompt
        chunks (at most `chunk` tokens each) of prefilling ones while the batch has room. Each
        sequence whose prompt is done samples its next token from its own row. Returns the
        sequences that finished. Raises KVFull (nothing changed) if a slot has no room."""
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
            for s, k in plan:
                if len(self.slots[s.slot]) + k > self.info.n_ctx:
                    raise KVFull(f"a slot's KV ({self.info.n_ctx} tokens) has no room for this step")
            # In slot order: llama.cpp computes the slots of a step in one pass only where their
            # ids are consecutive in the batch (per-slot KV streams are split that way).
            plan.sort(key=lambda p: p[0].slot)
            rows = self._decode(plan)
            finished = []
            for (s, k), row in zip(plan, rows, strict=True):
                self.slots[s.slot].extend(s.pending[:k])
                del s.pending[:k]
                if not s.pending:
                    try:
                        self._advance(s, row)
                    except DriverError as exc:  # this sequence's sampler failed: it alone ends
                        s.error = exc
                        s.end("error")
                    if s.done:
                        finished.append(s)
            return finished

    def _advance(self, s: Seq, row: int) -> None:
        """Sample `s`'s next token from `row`; it becomes pending, or `s` ends."""
        tok = s.sampler.sample(row)
        if not s.sampling.ignore_eos and self.is_eog(tok):
            s.end("stop")
            return
        s.n_out += 1
        if s.feed(self.piece(tok)):
            s.end("stop")
        elif s.n_out >= s.max_tokens:
            s.end("length")
        else:
            s.history.append(tok)
            s.pending = [tok]

    def generate(self, prompt: str | list[int], sampling: Sampling, *, on_text: OnText | None = None,
                 check: Callable[[], None] | None = None, slot: int = 0) -> Generation:
        """One generation alone on `slot`, on the calling thread (benchmarks, tests). The kernel
        never calls this: its generations go through the scheduler."""
        with self.lock:
            return generate_alone(self, prompt, sampling, on_text=on_text, check=check, slot=slot)


def generate_alone(engine, prompt: str | list[int], sampling: Sampling, *, on_text: OnText | None = None,
                   check: Callable[[], None] | None = None, slot: int = 0) -> Generation:
    """Drive one sequence of any step engine to its end on the calling thread."""
    seq = engine.open_seq(prompt, sampling, slot=slot, on_text=on_text)
    try:
        while not seq.done:
            if check is not None:
                check()
            engine.step([seq])
    finally:
        seq.close()
    if seq.error is not None:
        raise seq.error
    return seq.result()


class DecodeThread:
    """The one thread that runs decode steps in this process: the CPU the scheduler schedules.

    llama.cpp computes a graph on an OpenMP team led by the calling thread, and every new
    calling thread gets a team of its own. With more OpenMP threads than CPUs, libgomp stops
    spin-waiting between parallel sections and sleeps instead, and from then on every decode
    in the process runs at about a third of its speed (measured on the 2-core machine: 10.7 ms
    a token from one thread; 28 ms from any thread, the first included, once a second thread
    had decoded). So every decode runs here: the schedulers' ticks (registered with `add`) run
    on this thread, and `call` hands any other decode to it.

    A tick returns True when it did work (call it again at once), False when it is idle (wait
    for `wake`), None when its driver was busy in another thread (try again shortly).
    """

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._ticks: list[Callable[[], bool | None]] = []
        self._cond = threading.Condition()
        self._woken = False
        self._thread = threading.Thread(target=self._run, name="llmos-decode", daemon=True)
        self._thread.start()

    def on_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def add(self, tick: Callable[[], bool | None]) -> None:
        with self._cond:
            self._ticks.append(tick)
        self.wake()

    def remove(self, tick: Callable[[], bool | None]) -> None:
        with self._cond:
            if tick in self._ticks:
                self._ticks.remove(tick)

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            while True:
                try:
                    fn, args, box, done = self._jobs.get_nowait()
                except queue.Empty:
                    break
                try:
                    box.append(fn(*args))
                except BaseException as exc:  # handed back to the caller
                    box.append(exc)
                done.set()
            with self._cond:
                ticks = list(self._ticks)
            busy = contended = False
            for tick in ticks:
                got = tick()
                busy = busy or bool(got)
                contended = contended or got is None
            if busy:
                continue
            with self._cond:
                if not self._woken and self._jobs.empty():
                    self._cond.wait(timeout=0.002 if contended else 0.5)
                self._woken = False

    def call(self, fn, *args):
        if self.on_thread():
            return fn(*args)
        box: list = []
        done = threading.Event()
        self._jobs.put((fn, args, box, done))
        self.wake()
        done.wait()
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
