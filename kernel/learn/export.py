"""`llmos learn export`: the journal's finished processes that went well, as training examples.

A trace is good when a person rated it good (`llmos log PID --rate good`), or, unrated, when
it ended by a reply (exit status 0, "replied") and none of its syscalls failed with EINVAL
(a malformed call) or EACCES (a call it was not granted). A trace rated bad is never taken.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

from ...syscalls.errno import Errno, SyscallError
from .examples import example

BAD_ERRNOS = ("EINVAL", "EACCES")


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """'2h', '3d', '30m', an ISO date/time, or Unix seconds -> Unix seconds; None for None."""
    if text is None:
        return None
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m:
        return now - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise SyscallError(Errno.EINVAL, f"--since {text!r} is not a time; use 2h, 3d, 2026-01-31 or Unix seconds") from None


def rating(kernel, pid: int) -> str | None:
    rows = kernel.store.query("SELECT rating FROM ratings WHERE pid = ?", [pid])
    return rows[0]["rating"] if rows else None


def rate(kernel, pid: int, verdict: str) -> None:
    if verdict not in ("good", "bad"):
        raise SyscallError(Errno.EINVAL, f"rating {verdict!r} is not good or bad")
    kernel.procs.get(pid)  # ENOENT for an unknown pid
    with kernel.store.lock:
        kernel.store.db["ratings"].upsert({"pid": pid, "rating": verdict, "rated": time.time()}, pk="pid")


def verdict(kernel, proc) -> tuple[bool, str]:
    """(good?, why) for one finished process."""
    rated = rating(kernel, proc.pid)
    if rated == "bad":
        return False, "rated bad"
    if rated == "good":
        return True, "rated good"
    if proc.state.value != "exited" or proc.exit_status != 0 or proc.reply is None:
        return False, f"did not end by a reply ({proc.exit_reason})"
    failed = [r["errno"] for r in kernel.journal.tail(100_000, pid=proc.pid) if r["errno"] in BAD_ERRNOS]
    if failed:
        return False, f"a syscall failed with {failed[0]}"
    return True, "ended by a reply"


def export(kernel, out: Path, *, since: float | None = None, redact_secrets: bool = True) -> dict:
    """Write the good traces to `out` (JSONL); return counts {"finished", "written", "skipped": {why: n}}."""
    taken, skipped, finished = [], {}, 0
    for proc in kernel.procs.list(all=True):
        if proc.ended is None or (since is not None and proc.created < since):
            continue
        finished += 1
        ok, why = verdict(kernel, proc)
        if not ok:
            key = re.sub(r"\(.*\)$", "", why).strip()
            skipped[key] = skipped.get(key, 0) + 1
            continue
        ex = example(kernel, proc, source="journal", redact_secrets=redact_secrets)
        ex["meta"]["why"] = why
        taken.append(ex)
    tmp = out.with_name(out.name + ".partial")
    with tmp.open("w") as f:
        for ex in taken:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return {"finished": finished, "written": len(taken), "skipped": skipped}
