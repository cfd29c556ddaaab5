"""The journal: every syscall, in SQLite, with its outcome, time and tokens."""

from __future__ import annotations

import json

from ..syscalls.dispatch import JournalEntry
from .store import Store

MAX_VALUE = 200  # characters kept of a long argument value
MAX_DEPTH = 8  # levels of nesting kept of an argument value


def _text(value: str) -> str:
    """Text SQLite can store: a lone surrogate (JSON may carry "\\ud800") becomes "?"."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _clip(value, depth: int = 0):
    if isinstance(value, str):
        if len(value) > MAX_VALUE:
            value = value[:MAX_VALUE] + f"…(+{len(value) - MAX_VALUE} chars)"
        return _text(value)
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return "…(nested deeper)"
    if isinstance(value, dict):
        return {_clip(str(k)): _clip(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        return [_clip(v, depth + 1) for v in value[:20]] + (["…"] if len(value) > 20 else [])
    return value


class Journal:
    def __init__(self, store: Store):
        self.store = store

    def write(self, e: JournalEntry) -> None:
        row = {
            "ts": e.ts,
            "pid": e.pid,
            "name": _text(e.name[:100]),
            "args": json.dumps(_clip(e.args), default=str, ensure_ascii=False),
            "ok": int(e.ok),
            "errno": e.errno,
            "message": _text(e.message) if e.message is not None else None,
            "duration_ms": round(e.duration_ms, 3),
            "tokens_in": e.tokens_in,
            "tokens_out": e.tokens_out,
        }
        with self.store.lock:
            self.store.db["journal"].insert(row)

    def tail(self, n: int = 20, pid: int | None = None) -> list[dict]:
        where, params = ("WHERE pid = ?", [pid]) if pid is not None else ("", [])
        rows = self.store.query(
            f"SELECT * FROM (SELECT * FROM journal {where} ORDER BY id DESC LIMIT ?) ORDER BY id", params + [n]
        )
        out = []
        for r in rows:
            r["args"] = json.loads(r["args"]) if r["args"] else {}
            r["ok"] = bool(r["ok"])
            out.append(r)
        return out
