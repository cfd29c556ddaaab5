"""Hybrid search over memory items: SQLite FTS5 (BM25) and sqlite-vec, fused by reciprocal rank.

The vectors live in a sqlite-vec `vec0` table (mem_vec): that is the index of record, written
in the same transactions as everything else and really emptied by mem.forget. A query asks
vec0 for its nearest neighbours while the index is small. Past `MIRROR_AT` vectors, vec0's
exact KNN costs ~55 ms per query at 100k x 384 on this 2-core machine, while a matrix product
over an in-memory copy costs ~10 ms (measured by bench/recall.py), so a long-lived kernel keeps
a mirror of the table in numpy, loaded once and then topped up with each new embedding batch.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Reciprocal rank fusion. Cormack et al. use k = 60 and equal weights; on bench/recall.py's
# paraphrased queries that let BM25's near-misses (same name, wrong fact) outvote the vectors
# (hybrid 0.575 < vector 0.785 at 100k). A small k (top ranks count most) and half weight for
# the word list measured best (0.81). Chosen on that benchmark's own queries: treat as tuned.
RRF_K = 5
FTS_WEIGHT = 0.5
MIRROR_AT = 10_000  # vectors; below this vec0's own KNN is fast enough

STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its me my no not of on or our so than that the their them then there these they
    this to was we were what when where which who whom why will with would you your about any
    some tell know remember recall again please did do""".split()
)


def fts_query(text: str, max_terms: int = 16) -> str | None:
    """The words of `text` (stopwords dropped), each quoted, joined by OR; None if none are left."""
    words = []
    for w in re.findall(r"\w+", text.lower()):
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()) and w not in words:
            words.append(w)
    return " OR ".join(f'"{w}"' for w in words[:max_terms]) or None


COMMON_DF = 0.02  # a word in more than this share of the items ranks nothing, but costs BM25 time


def _prune_common(conn: sqlite3.Connection, q: str) -> str:
    """Drop query words that occur in more than COMMON_DF of the items (fts5vocab's document
    counts): at 100k items they cut BM25's p95 from ~17 ms to ~7 ms. At least one word stays."""
    words = [w.strip('"') for w in q.split(" OR ")]
    try:
        total = conn.execute("SELECT count(*) FROM mem_items").fetchone()[0]
        df = dict(conn.execute(
            f"SELECT term, doc FROM mem_fts_v WHERE term IN ({','.join('?' * len(words))})", words).fetchall())
    except sqlite3.OperationalError:  # no vocabulary table (a database from before m102)
        return q
    keep = [w for w in words if df.get(w, 0) <= COMMON_DF * total] or [min(words, key=lambda w: df.get(w, 0))]
    return " OR ".join(f'"{w}"' for w in keep)


def fts_search(conn: sqlite3.Connection, query: str, k: int, allowed_sql: str = "", params: list | None = None) -> list[int]:
    """Item ids ranked by BM25; `allowed_sql` is an extra condition on mem_items `i`."""
    q = fts_query(query)
    if q is None:
        return []
    q = _prune_common(conn, q)
    join = f"JOIN mem_items i ON i.id = f.rowid WHERE mem_fts MATCH ? AND ({allowed_sql})" if allowed_sql else "WHERE mem_fts MATCH ?"
    sql = f"SELECT f.rowid FROM mem_fts f {join} ORDER BY bm25(mem_fts) LIMIT ?"
    return [r[0] for r in conn.execute(sql, [q, *(params or []), k])]


def rrf(*rankings: list[int], weights: tuple[float, ...] | None = None, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each list adds weight/(k + rank) to an id; best first."""
    score: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if weights else 1.0
        for rank, item in enumerate(ranking, start=1):
            score[item] = score.get(item, 0.0) + w / (k + rank)
    return sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))


class VectorIndex:
    """mem_vec (vec0, cosine distance), plus a numpy mirror once it is large."""

    def __init__(self, mirror_at: int = MIRROR_AT):
        self.mirror_at = mirror_at
        self._ids = None  # np.int64[n]
        self._mat = None  # np.float32[capacity, 384]; rows [:n] are live
        self._n = 0
        self._seq = 0  # highest mem_items.embedded batch loaded into the mirror

    # -- writes (inside the caller's transaction) ------------------------------------------

    def add(self, conn: sqlite3.Connection, ids: list[int], vecs: np.ndarray) -> None:
        conn.executemany("INSERT INTO mem_vec(rowid, embedding) VALUES (?, ?)",
                         [(int(i), v.tobytes()) for i, v in zip(ids, vecs, strict=True)])

    def remove(self, conn: sqlite3.Connection, item_id: int) -> None:
        conn.execute("DELETE FROM mem_vec WHERE rowid = ?", [item_id])  # vec0 zeroes the stored vector
        if self._ids is not None:
            keep = self._ids[: self._n] != item_id
            n = int(keep.sum())
            self._ids[:n] = self._ids[: self._n][keep]
            self._mat[:n] = self._mat[: self._n][keep]
            self._n = n

    def count(self, conn: sqlite3.Connection) -> int:
        return conn.execute("SELECT count(*) FROM mem_vec_rowids").fetchone()[0]

    # -- reads -----------------------------------------------------------------------------

    def search(self, conn: sqlite3.Connection, q: np.ndarray, k: int, allowed: list[int] | None = None) -> list[int]:
        """Ids of the `k` nearest items to unit vector `q`, only among `allowed` when given."""
        if allowed is not None and not allowed:
            return []
        if self._ids is None and self.count(conn) < self.mirror_at:
            return self._search_vec0(conn, q, k, allowed)
        self.refresh(conn)
        return self._search_mirror(q, k, allowed)

    def _search_vec0(self, conn, q, k, allowed) -> list[int]:
        sql = "SELECT rowid FROM mem_vec WHERE embedding MATCH ? AND k = ?"
        params: list = [q.astype("float32").tobytes(), k]
        if allowed is not None:
            sql += " AND rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(allowed))
        return [r[0] for r in conn.execute(sql + " ORDER BY distance", params)]

    def _search_mirror(self, q, k, allowed) -> list[int]:
        import numpy as np

        ids, mat = self._ids[: self._n], self._mat[: self._n]
        if allowed is not None:
            pick = np.isin(ids, np.asarray(allowed, dtype=np.int64))
            ids, mat = ids[pick], mat[pick]
        if len(ids) == 0:
            return []
        sims = mat @ q.astype(np.float32)
        k = min(k, len(ids))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [int(i) for i in ids[top]]

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Load into the mirror every vector embedded since it was last loaded."""
        import numpy as np

        seq = conn.execute("SELECT coalesce(max(embedded), 0) FROM mem_items").fetchone()[0]  # before the rows
        if self._ids is None:
            rows = conn.execute("SELECT rowid, embedding FROM mem_vec").fetchall()
            self._ids = np.zeros(0, np.int64)
            self._mat = np.zeros((0, 384), np.float32)
        else:
            rows = conn.execute(
                "SELECT v.rowid, v.embedding FROM mem_items i JOIN mem_vec v ON v.rowid = i.id WHERE i.embedded > ?",
                [self._seq]).fetchall()
            if rows and self._n:  # a batch committed while the mirror was first loading may be there already
                old = np.isin(np.array([r[0] for r in rows], np.int64), self._ids[: self._n])
                rows = [r for r, dup in zip(rows, old, strict=True) if not dup]
        if rows:
            self._grow(self._n + len(rows))
            new = slice(self._n, self._n + len(rows))
            self._ids[new] = [r[0] for r in rows]
            self._mat[new] = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            self._n += len(rows)
        self._seq = max(self._seq, seq)

    def _grow(self, need: int) -> None:
        import numpy as np

        if need <= len(self._ids):
            return
        cap = max(need, 2 * len(self._ids), 1024)
        ids = np.zeros(cap, np.int64)
        mat = np.zeros((cap, self._mat.shape[1] if self._mat.size else 384), np.float32)
        ids[: self._n] = self._ids[: self._n]
        mat[: self._n] = self._mat[: self._n]
        self._ids, self._mat = ids, mat
