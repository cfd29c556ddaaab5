"""What the user granted each app, in SQLite. A process gets manifest ∩ grants, never more."""

from __future__ import annotations

import time

from ..syscalls.caps import Capability
from ..syscalls.errno import Errno, SyscallError
from .store import Store


class Grants:
    def __init__(self, store: Store):
        self.store = store

    def get(self, app: str) -> list[str] | None:
        """The app's grants, or None if the user was never asked (not installed)."""
        rows = list(self.store.db.query("SELECT capability FROM grants WHERE app = ? ORDER BY capability", [app]))
        return [r["capability"] for r in rows] if rows else None

    def grant(self, app: str, caps: list[str]) -> list[str]:
        for c in caps:
            try:
                Capability.parse(c)
            except ValueError as exc:
                raise SyscallError(Errno.EINVAL, str(exc)) from None
        with self.store.lock, self.store.db.conn:
            self.store.db["grants"].upsert_all(
                [{"app": app, "capability": c, "granted": time.time()} for c in caps], pk=("app", "capability"))
        return self.get(app) or []

    def revoke(self, app: str, caps: list[str] | None = None) -> list[str]:
        with self.store.lock, self.store.db.conn:
            if caps is None:
                self.store.db.execute("DELETE FROM grants WHERE app = ?", [app])
            else:
                for c in caps:
                    self.store.db.execute("DELETE FROM grants WHERE app = ? AND capability = ?", [app, c])
        return self.get(app) or []
