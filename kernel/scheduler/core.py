"""The scheduler: many processes on one model, as an OS runs many processes on one CPU.

Its ticks run on the driver's decode thread (drivers/engine.py: the process's one thread that
decodes), so a step needs no hand-off: each tick is one batched step carrying the next token
of every running request (continuous batching; prompts join in chunks), and requests join and
leave between ticks. The model has `n_seq` slots; a running request holds one. Callers block
in `generate()` (the agent loop, llm.* syscalls, `llmos batch`); their callbacks (`on_text`,
`check`) run in their own threads, never on the decode thread.

Policy (policy.py) decides who gets a slot and whom to preempt; a preempted request's KV is
swapped out (swap.py: RAM up to `ram_budget`, then files in `spill_dir`) and restored later
into any slot, continuing exactly where it stopped. A process's KV stays in its slot between
its turns (its key owns the slot) and is swapped out only if the slot is wanted; `forget(pid)`
disowns everything of an ended process, so its KV is never swapped or kept, only reused as a
prefix donor until overwritten.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path

from ...drivers.base import Check, DriverError, Generation, OnText, Sampling
from ...drivers.errno import Errno
from .policy import NORMAL, Policy, owned_by
from .stats import Stats
from .swap import Image, SwapStore

_ids = itertools.count(1)


class Request:
    """One generation waiting for, holding, or swapped out of a slot."""

    def __init__(self, key: Hashable | None, prompt: list[int], sampling: Sampling, priority: int,
                 pid: int | None, want_text: bool, now: float):
        self.id = next(_ids)
        self.key = key
        self.pid = pid
        self.prompt = prompt
        self.sampling = sampling
        self.priority = priority
        self.want_text = want_text
        self.events: queue.SimpleQueue = queue.SimpleQueue()  # ("text", str) | ("done", Generation) | ("error", exc)
        self.enqueued = now
        self.run_prio = priority
        self.seq = None  # the driver's Seq, once admitted
        self.slot: int | None = None
        self.cancelled = False
        self.slice_used = 0
        self.preempted = 0
        self.started: float | None = None  # first time it held a slot
        self.ran = 0.0  # seconds spent holding a slot, before the current stay
        self.since = 0.0

    @property
    def tokens_out(self) -> int:
        return self.seq.n_out if self.seq is not None else 0

    def send(self, kind: str, value) -> None:
        self.events.put((kind, value))


class Scheduler:
    def __init__(self, driver, spill_dir: Path, *, ram_budget: int = 1 << 30, slice_tokens: int = 256,
                 aging_s: float = 5.0, prefill_chunk: int = 128, stats_dir: Path | None = None,
                 model: str = "", clock: Callable[[], float] = time.monotonic):
        self.d = driver
        self.clock = clock  # what aging and time slices are measured by (tests pass a fake one)
        self.n = driver.n_seq
        self.swap = SwapStore(spill_dir, ram_budget)
        self.policy = Policy(slice_tokens, aging_s)
        self.prefill_chunk = prefill_chunk
        self.owner: list[Hashable | None] = [None] * self.n  # whose KV each slot holds
        self.last_used = [0.0] * self.n
        self.running: dict[int, Request] = {}
        self.waiting: list[Request] = []
        self.inbox: list = []  # Requests and ("forget", pid), taken in at the next tick
        self._lock = threading.Lock()  # guards inbox, _stop, _registered
        self.steps = 0
        self.tokens_total = 0
        self.swaps_out = self.swaps_in = 0
        self.stats = Stats(stats_dir, model, id(self))
        self._stop = False
        self._registered = False

    # -- the callers' side ----------------------------------------------------------------

    def submit(self, key: Hashable | None, prompt: list[int], sampling: Sampling, *, priority: int = NORMAL,
               pid: int | None = None, want_text: bool = False) -> Request:
        """Queue a generation; `wait(req)` collects it. `key` names whose KV it builds on (a
        process): the slot or swapped image holding that key's KV is reused; None: nobody's."""
        req = Request(key, list(prompt), sampling, priority, pid, want_text, self.clock())
        with self._lock:
            if self._stop:
                raise DriverError(Errno.EIO, "the scheduler has stopped")
            self.inbox.append(req)
            if not self._registered:
                self._registered = True
                self.d.decoder.add(self._tick)
        self.d.decoder.wake()
        return req

    def wait(self, req: Request, *, on_text: OnText | None = None, check: Check | None = None) -> Generation:
        """Block until `req` ends, streaming its text to `on_text` and calling `check` (which may
        raise to cancel it) in this thread, between tokens or every 50 ms."""
        try:
            while True:
                try:
                    kind, value = req.events.get(timeout=0.05)
                except queue.Empty:
                    kind = None
                if check is not None:
                    check()
                if kind == "text":
                    if on_text is not None:
                        on_text(value)
                elif kind == "done":
                    return value
                elif kind == "error":
                    raise value
        except BaseException:
            self.cancel(req)
            raise

    def generate(self, key: Hashable | None, prompt: list[int], sampling: Sampling, *,
                 on_text: OnText | None = None, check: Check | None = None, priority: int = NORMAL,
                 pid: int | None = None) -> Generation:
        """Like Driver.generate, but batched with everything else running on the model."""
        req = self.submit(key, prompt, sampling, priority=priority, pid=pid, want_text=on_text is not None)
        return self.wait(req, on_text=on_text, check=check)

    def cancel(self, req: Request) -> None:
        req.cancelled = True
        self.d.decoder.wake()

    def forget(self, pid: int) -> None:
        """Process `pid` has ended: its KV (swapped, or idle in a slot) is of no more use."""
        with self._lock:
            self.inbox.append(("forget", pid))
        self.d.decoder.wake()

    def close(self) -> None:
        with self._lock:
            self._stop = True
        self.d.decoder.remove(self._tick)
        with self.d.lock:  # a tick in progress holds it: after this none runs again
            pending = [*self.running.values(), *self.waiting, *(x for x in self.inbox if isinstance(x, Request))]
            for r in pending:
                if r.seq is not None:
                    r.seq.close()
                r.send("error", DriverError(Errno.EINTR, "the kernel is shutting down"))
            self.running.clear()
            self.waiting.clear()
            self.inbox.clear()
            self.swap.clear()
        self.stats.remove()

    # -- on the decode thread -------------------------------------------------------------

    def _tick(self) -> bool | None:
        """One scheduling decision and one batched step. True: it stepped (call again); False:
        nothing to run; None: another thread holds the driver (try again shortly)."""
        if not self.d.lock.acquire(blocking=False):
            return None
        try:
            if self._stop:
                return False
            try:
                return self._step()
            except Exception as exc:  # a bug here must fail the callers, not hang them
                err = exc if isinstance(exc, DriverError) else DriverError(Errno.EIO, f"scheduler: {exc!r}")
                for r in [*self.running.values(), *self.waiting]:
                    self._fail(r, err)
                self.running.clear()
                self.waiting.clear()
                return False
        finally:
            self.d.lock.release()

    def _step(self) -> bool:
        with self._lock:
            inbox, self.inbox = self.inbox, []
        for item in inbox:
            if isinstance(item, Request):
                self.waiting.append(item)
            else:
                self._forget(item[1])
        self._reap()
        self._admit()
        if not self.running:
            self.stats.publish(self, force=True)
            return False
        reqs = list(self.running.items())
        before = sum(r.tokens_out for _, r in reqs)
        self.d.step([r.seq for _, r in reqs], chunk=self.prefill_chunk)
        self.steps += 1
        self.tokens_total += sum(r.tokens_out for _, r in reqs) - before
        now = self.clock()
        for slot, r in reqs:
            r.slice_used += 1
            self.last_used[slot] = now
            if r.seq.done:
                del self.running[slot]
                r.ran += now - r.since
                if r.seq.error is not None:
                    r.send("error", r.seq.error)
                else:
                    r.send("done", r.seq.result())
        self.stats.publish(self)
        return True

    def _forget(self, pid: int) -> None:
        for key in self.swap.keys():
            if owned_by(key, pid):
                self.swap.drop(key)
        for s in range(self.n):
            if s not in self.running and owned_by(self.owner[s], pid):
                self.owner[s] = None  # its KV stays only as a prefix donor, never swapped out

    def _reap(self) -> None:
        """Drop cancelled requests; a running one leaves its KV in the slot, idle."""
        for slot, r in list(self.running.items()):
            if r.cancelled:
                del self.running[slot]
                r.seq.close()
        keep = []
        for r in self.waiting:
            if r.cancelled:
                if r.seq is not None:
                    r.seq.close()
                self.swap.drop(("req", r.id))
            else:
                keep.append(r)
        self.waiting = keep

    def _admit(self) -> None:
        if not self.waiting:
            return
        now = self.clock()
        order = self.policy.order(self.waiting, now)
        self.waiting, preempted = [], []
        for i, r in enumerate(order):
            slot = self._slot_for(r, now, preempted)
            if slot is None:
                self.waiting = order[i:]
                break
            self._place(r, slot, now)
        self.waiting += preempted

    def _slot_for(self, r: Request, now: float, preempted: list[Request]) -> int | None:
        free = [s for s in range(self.n) if s not in self.running]
        if free:
            s = self.policy.free_slot(r.key, free, self.owner, self.d.slots, self.last_used)
            if self.owner[s] != r.key:
                self._evict(s)
            return s
        v = self.policy.victim(r, list(self.running.values()), now)
        if v is None:
            return None
        slot = v.slot
        self._swap_out_running(v, now)
        preempted.append(v)
        return slot

    def _evict(self, s: int) -> None:
        """Slot `s` is idle and wanted: keep its owner's KV in the swap store (if it has an owner)."""
        key = self.owner[s]
        if key is not None and self.d.slots[s]:
            self.swap.put(key, self.d.slots[s], self.d.save_slot(s))
            self.swaps_out += 1
        self.owner[s] = None

    def _swap_out_running(self, v: Request, now: float) -> None:
        s = v.slot
        self.swap.put(("req", v.id), self.d.slots[s], self.d.save_slot(s))
        self.swaps_out += 1
        del self.running[s]
        self.owner[s] = None
        v.slot = None
        v.ran += now - v.since
        v.preempted += 1
        v.slice_used = 0
        v.enqueued = now
        v.run_prio = v.priority

    def _place(self, r: Request, slot: int, now: float) -> None:
        """Start or resume `r` on `slot` (or fail it: a slot's KV holds any prompt open_seq
        accepts, so there is nothing to wait for)."""
        try:
            if r.seq is None:
                img = self.swap.get(r.key) if r.key is not None and self.owner[slot] != r.key else None
                if img is not None:
                    self._restore(slot, img)
                    self.swap.drop(r.key)
                on_text = (lambda text, r=r: r.send("text", text)) if r.want_text else None
                r.seq = self.d.open_seq(r.prompt, r.sampling, slot=slot, on_text=on_text)
                r.prompt = None
                r.started = now
                if r.seq.done:  # max_tokens 0
                    r.send("done", r.seq.result())
                    return
            else:
                img = self.swap.get(("req", r.id))
                if img is not None:
                    self._restore(slot, img)
                    self.swap.drop(("req", r.id))
                self.d.attach(r.seq, slot)
        except Exception as exc:  # a driver bug must fail this request, not leave its caller waiting
            self._fail(r, exc if isinstance(exc, DriverError) else DriverError(Errno.EIO, f"driver: {exc!r}"))
            return
        self.owner[slot] = r.key
        self.running[slot] = r
        r.slot = slot
        r.since = now
        r.slice_used = 0
        r.run_prio = max(r.priority, self.policy.effective(r, now))

    def _restore(self, slot: int, img: Image) -> None:
        self.d.restore_slot(slot, img.load(), img.tokens)
        self.swaps_in += 1

    def _fail(self, r: Request, exc: Exception) -> None:
        if r.seq is not None:
            r.seq.close()
        self.swap.drop(("req", r.id))
        r.send("error", exc)
