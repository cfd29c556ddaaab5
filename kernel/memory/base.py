"""The memory manager's storage side: transactions, each process's conversation, core memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...syscalls.errno import Errno, SyscallError
from ..store import Store
from .search import MIRROR_AT, VectorIndex

SOURCES = ("conversation", "archival", "core")


class MemoryBase:
    """Storage, transactions and the plain records: conversation, core memory, counts."""

    def __init__(self, store: Store, services: Any = None, *, embedder: Any = None,
                 high_water: float = 0.75, low_water: float = 0.5, page_fraction: float = 0.125,
                 summary_fraction: float = 0.15, core_chars: int = 2000, mirror_at: int = MIRROR_AT):
        """`services` is the kernel (for .driver()); `embedder` has .embed(texts) and .loaded."""
        if not 0 < low_water <= high_water <= 1:
            raise ValueError("need 0 < low_water <= high_water <= 1")
        self.store = store
        self.services = services
        self._embedder = embedder
        self.high_water = high_water
        self.low_water = low_water
        self.page_fraction = page_fraction
        self.summary_fraction = summary_fraction
        self.core_chars = core_chars
        self.vectors = VectorIndex(mirror_at)
        self._overhead: int | None = None

    @property
    def embedder(self):
        if self._embedder is None:
            from .embed import shared

            self._embedder = shared()
        return self._embedder

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One write transaction, taking SQLite's write lock up front (BEGIN IMMEDIATE), so a
        writer in another process makes us wait (busy_timeout) instead of failing on upgrade."""
        with self.store.lock:
            conn = self.store.db.conn
            nested = conn.in_transaction
            conn.execute("SAVEPOINT mem" if nested else "BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if nested:
                    conn.execute("ROLLBACK TO mem")
                    conn.execute("RELEASE mem")
                else:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("RELEASE mem" if nested else "COMMIT")

    def _q(self, sql: str, params: list | tuple = ()) -> list[dict]:
        return self.store.query(sql, params)

    # -- the conversation ---------------------------------------------------------------------

    def append(self, pid: int, role: str, content: str, *, kind: str = "message", tokens: int | None = None) -> int:
        """Commit one message of process `pid`; returns its id once it is on disk (WAL)."""
        now = time.time()
        with self._tx() as c:
            mid = c.execute(
                "INSERT INTO messages(pid, role, kind, content, tokens, paged_out, ts) VALUES (?, ?, ?, ?, ?, 0, ?)",
                [pid, role, kind, content, tokens, now]).lastrowid
            item = c.execute(
                "INSERT INTO mem_items(source, pid, ref, tags, ts, embedded) VALUES ('conversation', ?, ?, '', ?, 0)",
                [pid, mid, now]).lastrowid
            c.execute("INSERT INTO mem_fts(rowid, text, tags) VALUES (?, ?, '')", [item, content])
        return mid

    def messages(self, pid: int, *, resident_only: bool = False) -> list[dict]:
        where = "pid = ?" + (" AND paged_out = 0" if resident_only else "")
        return self._q(f"SELECT * FROM messages WHERE {where} ORDER BY id", [pid])

    def counts(self, pid: int) -> tuple[int, int]:
        """(messages, of which paged out) in process `pid`'s conversation."""
        row = self._q("SELECT count(*) AS n, coalesce(sum(paged_out), 0) AS out FROM messages WHERE pid = ?", [pid])[0]
        return row["n"], row["out"]

    def summary(self, pid: int) -> dict | None:
        rows = self._q("SELECT * FROM mem_summaries WHERE pid = ? ORDER BY id DESC LIMIT 1", [pid])
        return rows[0] if rows else None

    # -- core memory ------------------------------------------------------------------------

    def core_get(self, pid: int) -> str:
        rows = self._q("SELECT text FROM mem_core WHERE pid = ?", [pid])
        return rows[0]["text"] if rows else ""

    def core_text(self, pid: int) -> str:
        """What the window pins: the system-wide block (pid 0) and the process's own."""
        blocks = [self.core_get(0)] + ([self.core_get(pid)] if pid else [])
        return "\n".join(b for b in blocks if b)

    def core_set(self, pid: int, text: str) -> None:
        if len(text) > self.core_chars:
            raise SyscallError(Errno.EFBIG, f"core memory holds at most {self.core_chars} characters, not {len(text)}; keep the pinned facts short and mem.remember the rest")
        with self._tx() as c:
            for (item,) in c.execute("SELECT id FROM mem_items WHERE source = 'core' AND ref = ?", [pid]).fetchall():
                self._drop_item(c, item)
            c.execute("DELETE FROM mem_core WHERE pid = ?", [pid])
            if text:
                c.execute("INSERT INTO mem_core(pid, text, ts) VALUES (?, ?, ?)", [pid, text, time.time()])
                item = c.execute("INSERT INTO mem_items(source, pid, ref, content, tags, ts, embedded) VALUES ('core', ?, ?, ?, '', ?, 0)",
                                 [pid, pid, text, time.time()]).lastrowid
                c.execute("INSERT INTO mem_fts(rowid, text, tags) VALUES (?, ?, '')", [item, text])

    # -- accounting -------------------------------------------------------------------------

    def stat(self, pid: int | None = None) -> dict:
        where, params = ("WHERE pid = ?", [pid]) if pid is not None else ("", [])
        m = self._q(
            f"SELECT count(*) AS messages, coalesce(sum(paged_out = 0), 0) AS resident, coalesce(sum(paged_out = 1), 0) AS paged_out, "
            f"count(DISTINCT page) AS pages, coalesce(sum(CASE WHEN paged_out = 0 THEN tokens END), 0) AS resident_tokens, "
            f"coalesce(sum(CASE WHEN paged_out = 1 THEN tokens END), 0) AS paged_out_tokens FROM messages {where}", params)[0]
        s = self._q(f"SELECT count(*) AS n FROM mem_summaries {where}", params)[0]["n"]
        items = {r["source"]: r["n"] for r in self._q(f"SELECT source, count(*) AS n FROM mem_items {where} GROUP BY source", params)}
        pending = self._q(f"SELECT count(*) AS n FROM mem_items WHERE embedded = 0 {'AND pid = ?' if pid is not None else ''}", params)[0]["n"]
        with self.store.lock:
            conn = self.store.db.conn
            fts_rows = conn.execute("SELECT count(*) FROM mem_fts").fetchone()[0]
            vec_rows = self.vectors.count(conn)
        return {
            "pid": pid, **m, "summaries": s,
            "archival": items.get("archival", 0), "core_blocks": items.get("core", 0),
            "fts_rows": fts_rows, "vector_rows": vec_rows, "pending_embeddings": pending,
        }
