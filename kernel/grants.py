"""What the user granted each app, in SQLite. A process gets manifest ∩ grants, never more.

Changed only through the root-only syscalls sys.grant and sys.revoke, so the journal shows who
granted what. `answered` records that the user was asked (answering "none" grants nothing).
"""

from __future__ import annotations

import time

from ..syscalls.caps import Capability
from ..syscalls.errno import Errno, SyscallError
from .store import Store


class Grants:
    def __init__(self, store: Store):
        self.store = store

    def get(self, app: str) -> list[str] | None:
        """The app's grants, or None if the user was never asked (not installed, never run)."""
        # both reads under the lock: a grant committed between them read as "asked, granted
        # nothing" (seen: one of four chat sessions opened at once got no capabilities)
        with self.store.lock:
            rows = self.store.query("SELECT capability FROM grants WHERE app = ? ORDER BY capability", [app])
            if rows:
                return [r["capability"] for r in rows]
            answered = self.store.query("SELECT app FROM consent WHERE app = ?", [app])
        return [] if answered else None

    def grant(self, app: str, caps: list[str]) -> list[str]:
        """Add grants (none: the user was asked and granted nothing); the app's grants now."""
        for c in caps:
            try:
                Capability.parse(c)
            except ValueError as exc:
                raise SyscallError(Errno.EINVAL, str(exc)) from None
        now = time.time()
        with self.store.lock, self.store.db.conn:
            self.store.db["grants"].upsert_all(
                [{"app": app, "capability": c.strip(), "granted": now} for c in caps], pk=("app", "capability"))
            self.store.db["consent"].upsert({"app": app, "answered": now}, pk="app")
        return self.get(app) or []

    def revoke(self, app: str, caps: list[str] | None = None) -> list[str]:
        """Take grants back (None: all of them); the user's answer stays recorded."""
        with self.store.lock, self.store.db.conn:
            if caps is None:
                self.store.db.execute("DELETE FROM grants WHERE app = ?", [app])
            else:
                for c in caps:
                    self.store.db.execute("DELETE FROM grants WHERE app = ? AND capability = ?", [app, c.strip()])
        return self.get(app) or []

    def forget(self, app: str) -> None:
        """An app was removed: its grants and the user's answer go with it."""
        with self.store.lock, self.store.db.conn:
            self.store.db.execute("DELETE FROM grants WHERE app = ?", [app])
            self.store.db.execute("DELETE FROM consent WHERE app = ?", [app])
