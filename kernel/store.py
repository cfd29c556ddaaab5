"""The kernel's SQLite file (llmos.db, WAL) and its named migrations.

As in simonw/llm: each schema change is a function appended to MIGRATIONS and recorded by
name in the `_migrations` table, so it runs exactly once per database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from . import sqlite_ext

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]):
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_journal(db: sqlite_utils.Database) -> None:
    db["journal"].create(
        {
            "id": int,
            "ts": float,
            "pid": int,
            "name": str,
            "args": str,
            "ok": int,
            "errno": str,
            "message": str,
            "duration_ms": float,
            "tokens_in": int,
            "tokens_out": int,
        },
        pk="id",
    )
    db["journal"].create_index(["pid"])


@migration
def m002_processes(db: sqlite_utils.Database) -> None:
    db["processes"].create(
        {
            "pid": int,
            "parent": int,
            "app": str,
            "task": str,
            "state": str,  # ready, running, waiting, stopped, exited, killed
            "priority": int,
            "caps": str,  # JSON list of capability strings
            "quotas": str,  # JSON {steps, tokens, seconds, bytes}
            "spent": str,  # JSON {steps, tokens, seconds, bytes}
            "workspace": str,
            "exit_status": int,
            "exit_reason": str,
            "created": float,
            "ended": float,
        },
        pk="pid",
    )
    db["processes"].create_index(["state"])
    db["mailbox"].create(
        {"id": int, "pid": int, "sender": int, "body": str, "ts": float, "read": int}, pk="id"
    )
    db["mailbox"].create_index(["pid", "read"])


@migration
def m003_messages(db: sqlite_utils.Database) -> None:
    """Each process's conversation, committed before anything acts on it."""
    db["messages"].create(
        {
            "id": int,
            "pid": int,
            "role": str,  # system, user, assistant, tool
            "kind": str,  # task, action, observation, reply, summary, note
            "content": str,
            "tokens": int,  # in the driver's tokens, when known
            "paged_out": int,  # 0 resident, 1 paged out to disk (still here, out of the window)
            "ts": float,
        },
        pk="id",
    )
    db["messages"].create_index(["pid", "paged_out"])


# -- memory manager (issue 5; kernel/memory.py): m100.. so they never collide with m004..m099 --


@migration
def m100_memory_pages(db: sqlite_utils.Database) -> None:
    """Page numbers for paged-out messages, running summaries, and the pinned core blocks."""
    db["messages"].add_column("page", int)  # set when the message is paged out
    db["mem_summaries"].create(
        {"id": int, "pid": int, "upto_page": int, "content": str, "tokens": int, "source": str, "ts": float},
        pk="id",
    )
    db["mem_summaries"].create_index(["pid"])
    db["mem_core"].create({"pid": int, "text": str, "ts": float}, pk="pid")


@migration
def m101_memory_index(db: sqlite_utils.Database) -> None:
    """Searchable items (messages, archival facts, core blocks), their FTS5 and sqlite-vec indexes."""
    db["mem_items"].create(
        {
            "id": int,  # the id mem.recall shows and mem.forget takes
            "source": str,  # conversation, archival, core
            "pid": int,  # owner: the process whose message or core it is; who remembered a fact
            "ref": int,  # messages.id for a message, the pid for a core block
            "content": str,  # archival and core text (a message's text stays in messages)
            "tags": str,
            "ts": float,
            "embedded": int,  # 0 waiting for its embedding, else the batch that embedded it
        },
        pk="id",
    )
    db["mem_items"].create_index(["source", "ref"])
    db["mem_items"].create_index(["embedded"])
    db["mem_items"].create_index(["pid"])
    db.execute("CREATE VIRTUAL TABLE mem_fts USING fts5(text, tags, tokenize='porter unicode61')")
    db.execute("CREATE VIRTUAL TABLE mem_vec USING vec0(embedding float[384] distance_metric=cosine)")
    for m in db.query("SELECT id, pid, content, ts FROM messages ORDER BY id"):  # conversations so far
        item = db["mem_items"].insert({"source": "conversation", "pid": m["pid"], "ref": m["id"], "tags": "",
                                       "ts": m["ts"], "embedded": 0}).last_pk
        db.execute("INSERT INTO mem_fts(rowid, text, tags) VALUES (?, ?, '')", [item, m["content"]])


@migration
def m102_memory_vocab(db: sqlite_utils.Database) -> None:
    """Per-word document counts of the memory index, to leave very common words out of BM25."""
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS mem_fts_v USING fts5vocab(mem_fts, 'row')")


@migration
def m004_process_runtime(db: sqlite_utils.Database) -> None:
    """Which OS process runs each llmos process (to tell a crash from a run in another shell),
    a kill request another shell can post, and the final reply."""
    db["processes"].add_column("host_pid", int)
    db["processes"].add_column("kill_requested", int)
    db["processes"].add_column("reply", str)
    db["grants"].create({"app": str, "capability": str, "granted": float}, pk=("app", "capability"))


@migration
def m005_tool_choice(db: sqlite_utils.Database) -> None:
    """A process's tool_choice (auto, required, none, or a function's name)."""
    db["processes"].add_column("tool_choice", str)


class Store:
    def __init__(self, path: Path):
        self.path = path
        sqlite_ext.prepare()  # sqlite-vec, for the memory manager's vector index
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0, isolation_level=None)
        sqlite_ext.load(conn)
        conn.execute("PRAGMA busy_timeout = 10000")
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        self.lock = threading.RLock()  # one writer at a time within this process
        self.migrate()

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded, each in its own write transaction.

        Whether one is applied is read inside that transaction (BEGIN IMMEDIATE holds the write
        lock), so two kernels booting a fresh database at once cannot both run it.
        """
        applied = []
        conn = self.db.conn
        with self.lock:
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at FLOAT)")
            for fn in MIGRATIONS:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", [fn.__name__]).fetchone():
                        conn.execute("COMMIT")
                        continue
                    fn(self.db)
                    conn.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", [fn.__name__, time.time()])
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                applied.append(fn.__name__)
        return applied

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.conn.close()
