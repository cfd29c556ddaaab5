"""Recall: archival facts, hybrid search (FTS5 BM25 + sqlite-vec, fused by reciprocal rank), forget.

Embedding is off the write path: append() and remember() only queue an item (embedded = 0).
Pending items are embedded in batches when a recall needs them, and at page-out once the
embedder is already loaded. Not a background thread: on two cores it would compete with
llama.cpp's decoding for the CPU in the middle of a turn, and a kernel that only appends and
never recalls (most CLI calls, the unit tests) would load torch for nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...syscalls.errno import Errno, SyscallError
from .search import FTS_WEIGHT, RRF_K, fts_search, rrf

FETCH = 50  # candidates each method contributes to the fusion


class Recall:

    def remember(self, pid: int, text: str, tags: list[str] | None = None) -> int:
        """Store a fact in archival memory (every process can recall it); returns its item id."""
        tag_text = " ".join(tags or [])
        with self._tx() as c:
            item = c.execute("INSERT INTO mem_items(source, pid, ref, content, tags, ts, embedded) VALUES ('archival', ?, NULL, ?, ?, ?, 0)",
                             [pid, text, tag_text, time.time()]).lastrowid
            c.execute("INSERT INTO mem_fts(rowid, text, tags) VALUES (?, ?, ?)", [item, text, tag_text])
        return item

    @staticmethod
    def _visible(pid: int) -> tuple[str, list]:
        """What process `pid` may recall: its own paged-out conversation (what is resident is in its
        window already, and would crowd the hits), its core and the system core, all archival."""
        if pid == 0:
            return "", []
        return ("i.source = 'archival' OR (i.source = 'conversation' AND i.pid = ? AND EXISTS "
                "(SELECT 1 FROM messages pm WHERE pm.id = i.ref AND pm.paged_out = 1)) "
                "OR (i.source = 'core' AND i.ref IN (0, ?))", [pid, pid])

    def index_pending(self, *, batch: int = 64, check: Callable[[], None] | None = None) -> int:
        """Embed items still waiting for a vector, in batches; returns how many were embedded."""
        done = 0
        while True:
            if check is not None:
                check()
            rows = self._q(
                "SELECT i.id, coalesce(m.content, i.content, '') AS text, i.tags FROM mem_items i "
                "LEFT JOIN messages m ON i.source = 'conversation' AND m.id = i.ref "
                "WHERE i.embedded = 0 ORDER BY i.id LIMIT ?", [batch])
            if not rows:
                return done
            vecs = self.embedder.embed([(r["text"] + (" " + r["tags"] if r["tags"] else ""))[:4000] for r in rows])
            with self._tx() as c:
                ids = [r["id"] for r in rows]
                still = {i for (i,) in c.execute(  # another process may have embedded some meanwhile
                    f"SELECT id FROM mem_items WHERE embedded = 0 AND id IN ({','.join('?' * len(ids))})", ids)}
                keep = [n for n, i in enumerate(ids) if i in still]
                seq = c.execute("SELECT coalesce(max(embedded), 0) + 1 FROM mem_items").fetchone()[0]
                self.vectors.add(c, [ids[n] for n in keep], vecs[keep])
                c.executemany("UPDATE mem_items SET embedded = ? WHERE id = ?", [(seq, ids[n]) for n in keep])
            done += len(keep)

    def search(self, pid: int, query: str, k: int = 5, *, mode: str = "hybrid",
               sources: list[str] | None = None, check: Callable[[], None] | None = None) -> list[dict]:
        """Hits for `query` that process `pid` may see, best first: mode hybrid, fts or vector."""
        cond, params = self._visible(pid)
        if sources:
            marks = ",".join("?" * len(sources))
            cond = f"({cond}) AND i.source IN ({marks})" if cond else f"i.source IN ({marks})"
            params = [*params, *sources]
        fetch = max(FETCH, k)
        with self.store.lock:
            conn = self.store.db.conn
            fts = fts_search(conn, query, fetch, cond, params) if mode in ("hybrid", "fts") else []
        vec: list[int] = []
        if mode in ("hybrid", "vector"):
            self.index_pending(check=check)
            q = self.embedder.embed([query])[0]
            with self.store.lock:
                conn = self.store.db.conn
                allowed = None
                if cond:
                    allowed = [r[0] for r in conn.execute(f"SELECT i.id FROM mem_items i WHERE {cond}", params)]
                vec = self.vectors.search(conn, q, fetch, allowed)
        ranked = (rrf(fts, vec, weights=(FTS_WEIGHT, 1.0)) if mode == "hybrid"
                  else [(i, 1.0 / (RRF_K + n)) for n, i in enumerate(fts or vec, 1)])
        return self._hits(ranked, k)

    def _hits(self, ranked: list[tuple[int, float]], k: int) -> list[dict]:
        out = []
        for item, score in ranked:
            rows = self._q(
                "SELECT i.id, i.source, i.pid, i.tags, i.ts, i.ref, coalesce(m.content, i.content, '') AS text, m.page "
                "FROM mem_items i LEFT JOIN messages m ON i.source = 'conversation' AND m.id = i.ref WHERE i.id = ?", [item])
            if not rows:  # forgotten by another process since the search
                continue
            r = rows[0]
            out.append({"id": r["id"], "source": r["source"], "text": r["text"], "score": round(score, 6),
                        "pid": r["pid"], "message_id": r["ref"] if r["source"] == "conversation" else None,
                        "page": r["page"], "tags": r["tags"].split() if r["tags"] else [], "ts": r["ts"]})
            if len(out) == k:
                break
        return out

    def forget(self, pid: int, item: int) -> dict:
        """Remove item `item` from every index (a message's text is blanked, a core block cleared)."""
        rows = self._q("SELECT * FROM mem_items WHERE id = ?", [item])
        if not rows:
            raise SyscallError(Errno.ENOENT, f"no memory item {item}; mem.recall shows the ids")
        it = rows[0]
        if pid != 0 and it["pid"] != pid and not self._same_app(pid, it["pid"]):
            raise SyscallError(Errno.EACCES, f"memory item {item} belongs to pid {it['pid']}; a process forgets only "
                                             "its own app's")
        with self._tx() as c:
            self._drop_item(c, item)
            if it["source"] == "conversation":
                c.execute("UPDATE messages SET content = '[forgotten]', tokens = NULL WHERE id = ?", [it["ref"]])
            elif it["source"] == "core":
                c.execute("DELETE FROM mem_core WHERE pid = ?", [it["ref"]])
            c.execute("INSERT INTO mem_fts(mem_fts) VALUES ('optimize')")  # rewrite segments: no trace left
        return {"id": item, "source": it["source"]}

    def _same_app(self, pid: int, other: int) -> bool:
        """Whether two processes run the same app (a notes run forgets a note an earlier run kept)."""
        procs = getattr(self.services, "procs", None)
        if procs is None or other == 0:
            return False
        try:
            return procs.get(pid).app == procs.get(other).app
        except SyscallError:
            return False

    def _drop_item(self, c, item: int) -> None:
        c.execute("DELETE FROM mem_fts WHERE rowid = ?", [item])
        self.vectors.remove(c, item)
        c.execute("DELETE FROM mem_items WHERE id = ?", [item])
