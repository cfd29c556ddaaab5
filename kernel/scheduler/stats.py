"""What `llmos top` shows: each scheduler publishes its figures to a file in the data directory,
so another process (another kernel, `llmos top`) can read them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Hashable
from pathlib import Path


def _key(key: Hashable | None) -> str | None:
    return None if key is None else str(key)


def _row(r, state: str, where: str, kv_bytes: int, rate: float) -> dict:
    return {"id": r.id, "pid": r.pid, "key": _key(r.key), "state": state, "priority": r.priority,
            "where": where, "kv_bytes": kv_bytes, "tokens_out": r.tokens_out,
            "tokens_per_s": round(rate, 1), "preempted": r.preempted}


class Stats:
    def __init__(self, stats_dir: Path | None, model: str, ident: int):
        self.path = (stats_dir / f"sched-{os.getpid()}-{ident}.json") if stats_dir else None
        self.model = model
        self.current: dict = {}
        self._at = 0.0
        self._rate: list[tuple[float, int]] = []  # (time, tokens_total) samples, the last few seconds

    def publish(self, s, force: bool = False) -> None:
        """Take scheduler `s`'s figures (at most twice a second unless forced) and write them."""
        now = time.monotonic()
        if not force and now - self._at < 0.5:
            return
        self._at = now
        total = s.tokens_total
        self._rate = [(t, n) for t, n in self._rate if now - t < 3.0] + [(now, total)]
        t0, n0 = self._rate[0]
        rate = (total - n0) / (now - t0) if now > t0 else 0.0
        d = s.d
        rows = []
        for slot, r in sorted(s.running.items()):
            held = r.ran + s.clock() - r.since
            rows.append(_row(r, "running", f"slot {slot}", d.slot_bytes(slot),
                             r.tokens_out / held if held > 0 else 0.0))
        for r in s.waiting:
            img = s.swap.get(("req", r.id))
            state, where = ("swapped", img.where) if img else ("waiting", "-")
            rows.append(_row(r, state, where, img.nbytes if img else 0, r.tokens_out / r.ran if r.ran > 0 else 0.0))
        idle = []
        for slot in range(s.n):
            if slot not in s.running and s.owner[slot] is not None and d.slots[slot]:
                idle.append({"key": _key(s.owner[slot]), "where": f"slot {slot}", "bytes": d.slot_bytes(slot),
                             "tokens": len(d.slots[slot])})
        for key, img in s.swap.images.items():
            if not (isinstance(key, tuple) and key and key[0] == "req"):
                idle.append({"key": _key(key), "where": img.where, "bytes": img.nbytes, "tokens": len(img.tokens)})
        self.current = {
            "host_pid": os.getpid(), "ts": time.time(), "model": self.model, "slots": s.n,
            "slots_busy": len(s.running), "waiting": len(s.waiting), "n_ctx": d.info.n_ctx,
            "tokens_per_s": round(rate, 1), "tokens_total": total, "steps": s.steps,
            "swaps_out": s.swaps_out, "swaps_in": s.swaps_in,
            "ram_bytes": s.swap.ram_bytes, "disk_bytes": s.swap.disk_bytes,
            "requests": rows, "idle": idle,
        }
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self.current))
                tmp.replace(self.path)
            except OSError:
                pass

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


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
