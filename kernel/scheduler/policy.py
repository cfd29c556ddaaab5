"""Scheduling policy: priorities, aging, time slices, which slot a request gets, whom to preempt.

Decided between steps:
- a waiting request takes a free slot: preferably the one still holding its key's KV (its
  last turn), else an empty one, else the least recently used idle one (whose owner's KV is
  swapped out first, so that process's next turn restores it instead of re-reading its prompt);
- with every slot running, it preempts the running request of lowest current priority if its
  own class is higher, or if that request has used its time slice (`slice_tokens` steps) and
  the waiting one's aged priority is at least as high;
- waiting raises priority one class (AGING_STEP) per `aging_s` seconds, so nothing starves; a
  request placed at a raised priority keeps it for one slice. Aging orders the queue and wins
  slots at slice ends, but never preempts mid-slice: otherwise a queue of equal requests ages
  past the ones running and they preempt each other by turns, each keeping a swapped KV image
  (80 one-shot batch prompts on 2 slots held ~190 MB of images that way).
"""

from __future__ import annotations

from collections.abc import Hashable

INTERACTIVE, NORMAL, BATCH = 10, 0, -10  # the shell > processes > `llmos batch`
AGING_STEP = 10  # one priority class per aging period waited
PRIORITY_NAMES = {INTERACTIVE: "interactive", NORMAL: "normal", BATCH: "batch"}


def priority_name(p: int) -> str:
    return PRIORITY_NAMES.get(p, str(p))


def owned_by(key: Hashable | None, pid: int) -> bool:
    """Whether KV key `key` belongs to process `pid`: its own (pid) or its llm.* calls (tag, pid)."""
    return key == pid or (isinstance(key, tuple) and len(key) == 2 and key[1] == pid)


class Policy:
    def __init__(self, slice_tokens: int, aging_s: float):
        self.slice_tokens = slice_tokens
        self.aging_s = aging_s

    def effective(self, r, now: float) -> float:
        """A waiting request's priority, raised by how long it has waited."""
        return r.priority + AGING_STEP * int((now - r.enqueued) / self.aging_s)

    def current(self, r) -> int:
        """A running request's priority: what it was placed at, until its slice is used."""
        return r.run_prio if r.slice_used < self.slice_tokens else r.priority

    def order(self, waiting: list, now: float) -> list:
        return sorted(waiting, key=lambda r: (-self.effective(r, now), r.enqueued, r.id))

    def free_slot(self, key: Hashable | None, free: list[int], owner: list, slots: list[list[int]],
                  last_used: list[float]) -> int:
        """Of the free slots: the one holding `key`'s KV, else an empty one, else the least
        recently used (the caller swaps its owner's KV out first)."""
        for s in free:
            if key is not None and owner[s] == key:
                return s
        for s in free:
            if not slots[s]:
                return s
        return min(free, key=lambda s: last_used[s])

    def victim(self, r, running: list, now: float):
        """The running request `r` may preempt, or None."""
        eff = self.effective(r, now)
        victims = [v for v in running
                   if r.priority > self.current(v) or (eff >= self.current(v) and v.slice_used >= self.slice_tokens)]
        if not victims:
            return None
        return min(victims, key=lambda v: (self.current(v), -v.slice_used, -v.enqueued))
