"""The memory manager: each process's conversation, committed to SQLite, paged through its window.

RAM is the context window, disk is SQLite. Every message is committed (WAL) before anything
acts on it: "acknowledged" means committed. `window()` composes what the model sees:

    system | core memory (pinned) | summary of paged-out pages | recent messages

counted in the driver's own tokens. Past the high-water mark the oldest resident messages are
paged out in whole pages (still in SQLite, marked out, numbered) and folded into a running
summary; `mem.recall` brings relevant old content back as an observation.

Search (kernel/search.py) is hybrid: FTS5 (BM25) and sqlite-vec, fused by reciprocal rank.
Embedding is off the write path: append() and remember() only queue an item (embedded = 0).
Pending items are embedded in batches when a recall needs them, and at page-out once the
embedder is already loaded. Not a background thread: on two cores it would compete with
llama.cpp's decoding for the CPU in the middle of a turn, and a kernel that only appends and
never recalls (most CLI calls, the unit tests) would load torch for nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..syscalls.errno import Errno, SyscallError
from . import summary as summ
from .search import FTS_WEIGHT, MIRROR_AT, RRF_K, VectorIndex, fts_search, rrf
from .store import Store

Count = Callable[[str], int]
SOURCES = ("conversation", "archival", "core")
FETCH = 50  # candidates each method contributes to the fusion
DEFAULT_OVERHEAD = 8  # tokens of chat-template framing per message when no driver can say


class Memory:
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
            from .embed import MiniLM

            self._embedder = MiniLM()
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
        with self.store.lock:
            return list(self.store.db.query(sql, params))

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

    def summary(self, pid: int) -> dict | None:
        rows = self._q("SELECT * FROM mem_summaries WHERE pid = ? ORDER BY id DESC LIMIT 1", [pid])
        return rows[0] if rows else None

    # -- the window ---------------------------------------------------------------------------

    def overhead(self) -> int:
        """Tokens of chat-template framing around one message, from the driver when there is one."""
        if self._overhead is None:
            try:
                d = self.services.driver()
                self._overhead = max(
                    len(d.tokenize(d.format_chat([{"role": r, "content": ""}], add_generation_prompt=False),
                                   parse_special=True))
                    for r in ("system", "user", "assistant"))
            except Exception:
                self._overhead = DEFAULT_OVERHEAD
        return self._overhead

    def window(self, pid: int, system: str, budget: int, count: Count, *, overhead: int | None = None) -> list[dict]:
        """system | core memory | summary of paged-out pages | recent messages, within `budget`.

        Every message counts count(content) + `overhead` tokens (chat-template framing; default:
        measured on the driver). Past high_water x budget the oldest resident messages are paged
        out, in whole pages, down to low_water x budget. The result never exceeds `budget`.
        """
        per = self.overhead() if overhead is None else overhead
        base = count(system) + per
        if base > budget:
            raise SyscallError(Errno.EFBIG, f"the system prompt alone is {base} tokens, over the window's {budget}; shorten it or use a model with a larger context")
        core = self.core_text(pid)
        prev = self.summary(pid)
        resident = self.messages(pid, resident_only=True)
        sizes = [self._tokens(m, count) + per for m in resident]
        head = count(self._head(system, core, prev["content"] if prev else ""))
        if head + per + sum(sizes) > self.high_water * budget and len(resident) > 1:
            self._page_out(pid, system, core, prev, resident, sizes, budget, count, per)
            prev = self.summary(pid)
            resident = self.messages(pid, resident_only=True)
            sizes = [self._tokens(m, count) + per for m in resident]
        return self._compose(system, core, prev["content"] if prev else "", resident, sizes, budget, count, per)

    @staticmethod
    def _tokens(m: dict, count: Count) -> int:
        return m["tokens"] if m["tokens"] is not None else count(m["content"])

    @staticmethod
    def _head(system: str, core: str, summary: str) -> str:
        text = system
        if core:
            text += "\n\n## Core memory (pinned facts)\n" + core
        if summary:
            text += "\n\n## Summary of earlier conversation (paged out; mem.recall searches it)\n" + summary
        return text

    def _page_out(self, pid, system, core, prev, resident, sizes, budget, count, per) -> None:
        """Mark the oldest whole pages out and fold them into the summary, in one transaction."""
        summary_limit = max(16, int(budget * self.summary_fraction))
        target = self.low_water * budget - (count(self._head(system, core, "")) + per + summary_limit + per)
        page_tokens = max(1, int(budget * self.page_fraction))
        pages: list[list[dict]] = []
        remaining, i = sum(sizes), 0
        while remaining > target and i < len(resident) - 1:  # the newest message always stays
            page, got = [], 0
            while i < len(resident) - 1 and (got < page_tokens or not page):
                page.append(resident[i])
                got += sizes[i]
                i += 1
            pages.append(page)
            remaining -= got
        if not pages:
            return
        text, sources = prev["content"] if prev else "", []
        gen = self._generator(count)
        for chunk in self._chunks(pages, sizes[: i], budget // 2):  # a backlog is folded in a few calls
            text, source = summ.summarize(gen, text, chunk, count, summary_limit)
            sources.append(source)
        source = next((s for s in sources if s != "model"), "model")
        first = (self._q("SELECT coalesce(max(page), 0) AS p FROM messages WHERE pid = ?", [pid])[0]["p"]) + 1
        with self._tx() as c:
            for n, page in enumerate(pages):
                ids = [m["id"] for m in page]
                c.execute(f"UPDATE messages SET paged_out = 1, page = ? WHERE paged_out = 0 AND id IN ({','.join('?' * len(ids))})",
                          [first + n, *ids])
            c.execute("INSERT INTO mem_summaries(pid, upto_page, content, tokens, source, ts) VALUES (?, ?, ?, ?, ?, ?)",
                      [pid, first + len(pages) - 1, text, count(text), source, time.time()])
        if self._embedder is not None and getattr(self._embedder, "loaded", False):
            self.index_pending()  # cheap once the model is in memory: keep the vector index current

    @staticmethod
    def _chunks(pages: list[list[dict]], sizes: list[int], limit: int) -> Iterator[list[dict]]:
        """Whole pages grouped so that each group's messages total at most `limit` tokens."""
        chunk: list[dict] = []
        got, at = 0, 0
        for page in pages:
            size = sum(sizes[at : at + len(page)])
            at += len(page)
            if chunk and got + size > limit:
                yield chunk
                chunk, got = [], 0
            chunk += page
            got += size
        if chunk:
            yield chunk

    def _generator(self, count: Count) -> Callable[[str, int], str] | None:
        if self.services is None:
            return None

        def generate(prompt: str, max_tokens: int) -> str:
            from ..drivers.base import Sampling

            d = self.services.driver()
            chat = d.format_chat([{"role": "user", "content": prompt}])
            if len(d.tokenize(chat, parse_special=True)) + max_tokens > d.n_ctx():
                raise ValueError("the pages to summarize do not fit the model's context")
            tokens = d.tokenize(chat, add_special=True, parse_special=True)
            gen = getattr(self.services, "generate", None)
            if gen is None:  # services without a scheduler-aware generate (tests, tools)
                return d.generate(tokens, Sampling(max_tokens=max_tokens, temperature=0.0)).text
            # Through the kernel, so while the scheduler runs this decode stays on its one thread.
            return gen(0, tokens, Sampling(max_tokens=max_tokens, temperature=0.0), key=("summary",)).text

        return generate

    def _compose(self, system, core, summary, resident, sizes, budget, count, per) -> list[dict]:
        """The window; shrinks the summary, then core, then the newest message, to fit `budget`."""
        total = count(self._head(system, core, summary)) + per + sum(sizes)
        if total > budget and summary:
            room = count(summary) - (total - budget)
            summary = summ.fit(summary, room, count, keep="tail") if room > 0 else ""
            total = count(self._head(system, core, summary)) + per + sum(sizes)
        if total > budget and core:
            room = count(core) - (total - budget)
            core = summ.fit(core, room, count) if room > 0 else ""
            total = count(self._head(system, core, summary)) + per + sum(sizes)
        msgs = [{"role": m["role"], "content": m["content"]} for m in resident]
        while total > budget and len(msgs) > 1:  # only when a page-out could not run (one writer
            total -= sizes.pop(0)  # paging elsewhere, a shrunken budget): the oldest leave the window
            msgs.pop(0)
        if total > budget and msgs:
            msgs[-1]["content"] = self._cut(resident[-1], sizes[-1] - (total - budget) - per, count)
        window = [{"role": "system", "content": self._head(system, core, summary)}] + msgs
        for m in window[1:]:
            if m["role"] not in ("system", "user", "assistant"):
                m["role"] = "user"
        return window

    @staticmethod
    def _cut(m: dict, room: int, count: Count) -> str:
        note = f"\n[… cut to fit the window; the whole text is message {m['id']}]\n"
        keep = max(0, room - count(note))
        head = summ.fit(m["content"], keep // 2, count)
        tail = summ.fit(m["content"][len(head):], keep - count(head), count, keep="tail")
        text = head + note + tail
        return text if count(text) <= room else summ.fit(m["content"], room, count, keep="tail")

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

    # -- archival memory, recall, forget -----------------------------------------------------

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
        if pid != 0 and it["pid"] != pid:
            raise SyscallError(Errno.EACCES, f"memory item {item} belongs to pid {it['pid']}; a process forgets only its own")
        with self._tx() as c:
            self._drop_item(c, item)
            if it["source"] == "conversation":
                c.execute("UPDATE messages SET content = '[forgotten]', tokens = NULL WHERE id = ?", [it["ref"]])
            elif it["source"] == "core":
                c.execute("DELETE FROM mem_core WHERE pid = ?", [it["ref"]])
            c.execute("INSERT INTO mem_fts(mem_fts) VALUES ('optimize')")  # rewrite segments: no trace left
        return {"id": item, "source": it["source"]}

    def _drop_item(self, c, item: int) -> None:
        c.execute("DELETE FROM mem_fts WHERE rowid = ?", [item])
        self.vectors.remove(c, item)
        c.execute("DELETE FROM mem_items WHERE id = ?", [item])

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
