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


class Store:
    def __init__(self, path: Path):
        self.path = path
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        self.lock = threading.RLock()  # one writer at a time within this process
        self.migrate()

    def migrate(self) -> list[str]:
        applied = []
        with self.lock:
            if "_migrations" not in self.db.table_names():
                self.db["_migrations"].create({"name": str, "applied_at": float}, pk="name")
            done = {row["name"] for row in self.db["_migrations"].rows}
            for fn in MIGRATIONS:
                if fn.__name__ in done:
                    continue
                with self.db.conn:
                    self.db.conn.execute("BEGIN IMMEDIATE")
                    fn(self.db)
                    self.db["_migrations"].insert({"name": fn.__name__, "applied_at": time.time()})
                applied.append(fn.__name__)
        return applied

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.conn.close()
