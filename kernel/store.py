"""The kernel's SQLite file (llmos.db, WAL) and its named migrations.

As in simonw/llm: each schema change is a function appended to MIGRATIONS and recorded by
name in the `_migrations` table, so it runs exactly once per database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from ..syscalls.errno import Errno, SyscallError
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


@migration
def m006_app_consent(db: sqlite_utils.Database) -> None:
    """When the user answered an app's grant question (an answer of "none" grants nothing but
    is still an answer: the app is not asked again)."""
    db["consent"].create({"app": str, "answered": float}, pk="app")


@migration
def m007_ratings(db: sqlite_utils.Database) -> None:
    """A person's verdict on a process's trace (`llmos log PID --rate good|bad`), read by `llmos learn export`."""
    db["ratings"].create({"pid": int, "rating": str, "rated": float}, pk="pid")


@migration
def m008_assistant_conversation(db: sqlite_utils.Database) -> None:
    """The built-in assistant keeps the shell's conversation as its own (mem.append, mem.window):
    an install that granted it llm.chat gets those two with it, as a new one would by default."""
    for (app,) in db.execute("SELECT DISTINCT app FROM grants WHERE app = 'assistant' AND capability = 'llm.chat'").fetchall():
        for cap in ("mem.append", "mem.window"):
            db.execute("INSERT OR IGNORE INTO grants(app, capability, granted) VALUES (?, ?, ?)", [app, cap, time.time()])


# SQLite's primary result codes for a file that cannot be used, whatever the query
_FAILURES = {
    11: (Errno.EIO, "the database {path} is damaged ({what}); move it aside (llmos starts a fresh one) or restore a copy"),
    26: (Errno.EIO, "{path} is not an llmos database ({what}); move it aside (llmos starts a fresh one)"),
    13: (Errno.ENOSPC, "the disk holding {path} is full ({what}); free some space, then try again"),
    10: (Errno.EIO, "cannot read or write {path} ({what}); the disk may be full or failing: free space or check it, then try again"),
    14: (Errno.EACCES, "cannot open {path} ({what}); check the data directory's permissions"),
    8: (Errno.EACCES, "cannot write {path} ({what}); check the data directory's permissions"),
    3: (Errno.EACCES, "cannot use {path} ({what}); check the data directory's permissions"),
}


@contextmanager
def _plainly(conn):
    """A damaged file, a full disk, an I/O or permission failure becomes a SyscallError that says
    what to do, wherever the kernel meets it (boot, the journal, a handler, a shell command)."""
    try:
        yield
    except sqlite3.Error as exc:
        failure = _FAILURES.get((getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF)
        if failure is None:
            raise
        code, text = failure
        raise SyscallError(code, text.format(path=getattr(conn, "path", "llmos.db"), what=exc)) from None


class _Cursor(sqlite3.Cursor):
    def execute(self, *a):
        with _plainly(self.connection):
            return super().execute(*a)

    def executemany(self, *a):
        with _plainly(self.connection):
            return super().executemany(*a)

    def executescript(self, *a):
        with _plainly(self.connection):
            return super().executescript(*a)

    def fetchone(self):
        with _plainly(self.connection):
            return super().fetchone()

    def fetchmany(self, *a):
        with _plainly(self.connection):
            return super().fetchmany(*a)

    def fetchall(self):
        with _plainly(self.connection):
            return super().fetchall()

    def __next__(self):
        with _plainly(self.connection):
            return super().__next__()


class _Connection(sqlite3.Connection):
    """Every statement runs on a _Cursor (Connection.execute would bypass an overridden cursor())."""

    def cursor(self, factory=_Cursor):
        return super().cursor(factory)

    def execute(self, *a):
        return self.cursor().execute(*a)

    def executemany(self, *a):
        return self.cursor().executemany(*a)

    def executescript(self, *a):
        return self.cursor().executescript(*a)


class Store:
    def __init__(self, path: Path):
        self.path = path
        sqlite_ext.prepare()  # sqlite-vec, for the memory manager's vector index
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0, isolation_level=None,
                               factory=_Connection)
        conn.path = path
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

    def query(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Rows of one read, under the lock: sqlite-utils wraps a query in a savepoint, and two
        threads' savepoints on the one connection collide ("no such savepoint")."""
        with self.lock:
            return list(self.db.query(sql, params))

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.conn.close()
