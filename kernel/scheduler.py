"""The scheduler: many processes on one model, as an OS runs many processes on one CPU.

One thread owns the llama.cpp context and runs steps: each step is one `llama_decode` carrying
the next token of every running request (continuous batching; prompts join in chunks), and
requests join and leave between steps. The model has `n_seq` slots; a running request holds
one. Callers block in `generate()` (the agent loop, llm.* syscalls, `llmos batch`); their
callbacks (`on_text`, `check`) run in their own threads, never in the scheduler's.

Policy, decided between steps:
- a waiting request takes a free slot: preferably the one still holding its key's KV (its
  last turn), else an empty one, else the least recently used idle one (whose KV is swapped
  out to RAM first, so that process's next turn restores it instead of re-reading its prompt);
- with every slot running, it preempts the running request of lowest current priority if its
  own is higher, or equal and that request has used its time slice (`slice_tokens` steps):
  the victim's KV is swapped out (llama_state_seq_get_data) and it waits again, to resume
  exactly where it stopped (llama_state_seq_set_data);
- waiting raises priority one class (10) per `aging_s` seconds, so nothing starves; a request
  placed at a raised priority keeps it for one slice.
KV images live in RAM up to `ram_budget` bytes; past it the oldest are spilled to files in
`spill_dir`. Priorities: INTERACTIVE (the shell) > NORMAL (processes) > BATCH (`llmos batch`).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from ..drivers.base import Check, DriverError, Generation, OnText, Sampling

INTERACTIVE, NORMAL, BATCH = 10, 0, -10
AGING_STEP = 10  # one priority class per aging period waited
PRIORITY_NAMES = {INTERACTIVE: "interactive", NORMAL: "normal", BATCH: "batch"}


def priority_name(p: int) -> str:
    return PRIORITY_NAMES.get(p, str(p))


@dataclass
class Image:
    """A swapped-out slot: the tokens its KV held and the KV bytes, in RAM or in a file."""

    tokens: list[int]
    nbytes: int
    data: bytes | None = None
    path: Path | None = None
    stored: float = field(default_factory=time.monotonic)

    @property
    def where(self) -> str:
        return "ram" if self.data is not None else "disk"

    def load(self) -> bytes | bytearray:
        if self.data is not None:
            return self.data
        buf = bytearray(self.nbytes)
        with open(self.path, "rb") as f:
            f.readinto(buf)
        return buf


class SwapStore:
    """KV images by key: in RAM up to `ram_budget` bytes, the oldest spilled to files past it."""

    def __init__(self, folder: Path, ram_budget: int):
        self.folder = folder
        self.ram_budget = ram_budget
        self.images: dict[Hashable, Image] = {}
        self._names = itertools.count(1)

    @property
    def ram_bytes(self) -> int:
        return sum(i.nbytes for i in self.images.values() if i.data is not None)

    @property
    def disk_bytes(self) -> int:
        return sum(i.nbytes for i in self.images.values() if i.data is None)

    def put(self, key: Hashable, tokens: list[int], data: bytes) -> Image:
        self.drop(key)
        img = self.images[key] = Image(list(tokens), len(data), data=data)
        self._spill()
        return img

    def get(self, key: Hashable) -> Image | None:
        return self.images.get(key)

    def drop(self, key: Hashable) -> None:
        img = self.images.pop(key, None)
        if img is not None and img.path is not None:
            img.path.unlink(missing_ok=True)

    def _spill(self) -> None:
        ram = self.ram_bytes
        for img in sorted((i for i in self.images.values() if i.data is not None), key=lambda i: i.stored):
            if ram <= self.ram_budget:
                break
            self.folder.mkdir(parents=True, exist_ok=True)
            img.path = self.folder / f"{os.getpid()}-{id(self)}-{next(self._names)}.kv"
            img.path.write_bytes(img.data)
            img.data = None
            ram -= img.nbytes

    def clear(self) -> None:
        for key in list(self.images):
            self.drop(key)


_ids = itertools.count(1)


class Request:
    """One generation waiting for, holding, or swapped out of a slot."""

    def __init__(self, key: Hashable | None, prompt: list[int], sampling: Sampling, priority: int,
                 pid: int | None, want_text: bool):
        self.id = next(_ids)
        self.key = key
        self.pid = pid
        self.prompt = prompt
        self.sampling = sampling
        self.priority = priority
        self.want_text = want_text
        self.events: queue.SimpleQueue = queue.SimpleQueue()  # ("text", str) | ("done", Generation) | ("error", exc)
        self.enqueued = time.monotonic()
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
                 model: str = ""):
        self.d = driver
        self.n = driver.n_seq
        self.swap = SwapStore(spill_dir, ram_budget)
        self.slice_tokens = slice_tokens
        self.aging_s = aging_s
        self.prefill_chunk = prefill_chunk
        self.model = model
        self.owner: list[Hashable | None] = [None] * self.n  # whose KV each slot holds
        self.last_used = [0.0] * self.n
        self.running: dict[int, Request] = {}
        self.waiting: list[Request] = []
        self.inbox: list[Request] = []
        self.cond = threading.Condition()
        self.steps = 0
        self.tokens_total = 0
        self.swaps_out = self.swaps_in = 0
        self._rate: list[tuple[float, int]] = []  # (time, tokens_total) samples, the last few seconds
        self.stats: dict = {}
        self._stats_at = 0.0
        self.stats_path = (stats_dir / f"sched-{os.getpid()}-{id(self)}.json") if stats_dir else None
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- the callers' side ----------------------------------------------------------------

    def submit(self, key: Hashable | None, prompt: list[int], sampling: Sampling, *, priority: int = NORMAL,
               pid: int | None = None, want_text: bool = False) -> Request:
        """Queue a generation; `wait(req)` collects it. `key` names whose KV it builds on (a
        process): the slot or swapped image holding that key's KV is reused; None: nobody's."""
        req = Request(key, list(prompt), sampling, priority, pid, want_text)
        with self.cond:
            if self._stop:
                raise DriverError("EIO", "the scheduler has stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmos-scheduler", daemon=True)
                self._thread.start()
            self.inbox.append(req)
            self.cond.notify()
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
        with self.cond:
            req.cancelled = True
            self.cond.notify()

    def forget(self, key: Hashable) -> None:
        """The process `key` has ended: drop its swapped KV (its slot's KV stays, as a prefix donor)."""
        with self.cond:
            self.inbox.append(("forget", key))  # handled by the scheduler thread
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for r in [*self.running.values(), *self.waiting, *(x for x in self.inbox if isinstance(x, Request))]:
            if r.seq is not None:
                r.seq.close()
            r.send("error", DriverError("EINTR", "the kernel is shutting down"))
        self.running.clear()
        self.waiting.clear()
        self.swap.clear()
        if self.stats_path is not None:
            self.stats_path.unlink(missing_ok=True)

    # -- the scheduler thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self.cond:
                while not (self._stop or self.inbox or self.running or self.waiting):
                    self._publish(force=True)
                    self.cond.wait(timeout=1.0)
                if self._stop:
                    return
            try:
                self._tick()
            except Exception as exc:  # a bug here must fail the callers, not hang them
                err = exc if isinstance(exc, DriverError) else DriverError("EIO", f"scheduler: {exc!r}")
                for r in [*self.running.values(), *self.waiting]:
                    self._fail(r, err)
                self.running.clear()
                self.waiting.clear()

    def _tick(self) -> None:
        with self.d.lock:  # requests submitted while someone holds it all join the same step
            with self.cond:
                inbox, self.inbox = self.inbox, []
            for item in inbox:
                if isinstance(item, Request):
                    self.waiting.append(item)
                else:
                    self.swap.drop(item[1])
            self._reap()
            self._admit()
            if not self.running:
                if self.waiting:  # nothing can run: wait for a cancel or a new request
                    with self.cond:
                        self.cond.wait(timeout=0.05)
                return
            reqs = list(self.running.items())
            before = sum(r.tokens_out for _, r in reqs)
            self.d.step([r.seq for _, r in reqs], chunk=self.prefill_chunk)
        self.steps += 1
        self.tokens_total += sum(r.tokens_out for _, r in reqs) - before
        now = time.monotonic()
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
        self._publish()

    def _eff(self, r: Request, now: float) -> float:
        return r.priority + AGING_STEP * int((now - r.enqueued) / self.aging_s)

    def _cur(self, r: Request) -> int:
        return r.run_prio if r.slice_used < self.slice_tokens else r.priority

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
        now = time.monotonic()
        order = sorted(self.waiting, key=lambda r: (-self._eff(r, now), r.enqueued, r.id))
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
            for s in free:
                if r.key is not None and self.owner[s] == r.key:
                    return s
            for s in free:
                if not self.d.slots[s]:
                    return s
            s = min(free, key=lambda s: self.last_used[s])
            self._evict(s)
            return s
        eff = self._eff(r, now)
        victims = [v for v in self.running.values()
                   if eff > self._cur(v) or (eff >= self._cur(v) and v.slice_used >= self.slice_tokens)]
        if not victims:
            return None
        v = min(victims, key=lambda v: (self._cur(v), -v.slice_used, -v.enqueued))
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
        except DriverError as exc:
            self._fail(r, exc)
            return
        self.owner[slot] = r.key
        self.running[slot] = r
        r.slot = slot
        r.since = now
        r.slice_used = 0
        r.run_prio = max(r.priority, self._eff(r, now))

    def _restore(self, slot: int, img: Image) -> None:
        self.d.restore_slot(slot, img.load(), img.tokens)
        self.swaps_in += 1

    def _fail(self, r: Request, exc: Exception) -> None:
        if r.seq is not None:
            r.seq.close()
        self.swap.drop(("req", r.id))
        r.send("error", exc)

    # -- what `llmos top` shows -----------------------------------------------------------

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._stats_at < 0.5:
            return
        self._stats_at = now
        total = self.tokens_total
        self._rate = [(t, n) for t, n in self._rate if now - t < 3.0] + [(now, total)]
        t0, n0 = self._rate[0]
        rate = (total - n0) / (now - t0) if now > t0 else 0.0
        rows = []
        for slot, r in sorted(self.running.items()):
            held = r.ran + now - r.since
            rows.append(self._row(r, "running", f"slot {slot}", self.d.slot_bytes(slot),
                                  r.tokens_out / held if held > 0 else 0.0))
        for r in self.waiting:
            img = self.swap.get(("req", r.id))
            state, where = ("swapped", img.where) if img else ("waiting", "-")
            rows.append(self._row(r, state, where, img.nbytes if img else 0,
                                  r.tokens_out / r.ran if r.ran > 0 else 0.0))
        idle = []
        for s in range(self.n):
            if s not in self.running and self.owner[s] is not None and self.d.slots[s]:
                idle.append({"key": _key(self.owner[s]), "where": f"slot {s}", "bytes": self.d.slot_bytes(s),
                             "tokens": len(self.d.slots[s])})
        for key, img in self.swap.images.items():
            if not (isinstance(key, tuple) and key and key[0] == "req"):
                idle.append({"key": _key(key), "where": img.where, "bytes": img.nbytes, "tokens": len(img.tokens)})
        self.stats = {
            "host_pid": os.getpid(), "ts": time.time(), "model": self.model, "slots": self.n,
            "slots_busy": len(self.running), "waiting": len(self.waiting), "n_ctx": self.d.info.n_ctx,
            "tokens_per_s": round(rate, 1), "tokens_total": total, "steps": self.steps,
            "swaps_out": self.swaps_out, "swaps_in": self.swaps_in,
            "ram_bytes": self.swap.ram_bytes, "disk_bytes": self.swap.disk_bytes,
            "requests": rows, "idle": idle,
        }
        if self.stats_path is not None:
            try:
                self.stats_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.stats_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self.stats))
                tmp.replace(self.stats_path)
            except OSError:
                pass

    def _row(self, r: Request, state: str, where: str, kv_bytes: int, rate: float) -> dict:
        return {"id": r.id, "pid": r.pid, "key": _key(r.key), "state": state, "priority": r.priority,
                "where": where, "kv_bytes": kv_bytes, "tokens_out": r.tokens_out,
                "tokens_per_s": round(rate, 1), "preempted": r.preempted}


def _key(key: Hashable | None) -> str | None:
    return None if key is None else str(key)


def read_stats(folder: Path) -> list[dict]:
    """The stats every live scheduler using data directory `folder/..` publishes (for `llmos top`)."""
    out = []
    for p in sorted(folder.glob("sched-*.json")):
        try:
            st = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        pid = st.get("host_pid")
        try:
            if pid != os.getpid():
                os.kill(pid, 0)
        except (ProcessLookupError, TypeError):
            p.unlink(missing_ok=True)  # left by a process that is gone
            continue
        except PermissionError:
            pass
        out.append(st)
    return out


__all__ = ["Scheduler", "SwapStore", "Request", "INTERACTIVE", "NORMAL", "BATCH", "priority_name", "read_stats"]
