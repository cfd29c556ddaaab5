"""The process table, in SQLite: who runs, with what grants and budgets, and how each ended.

States: ready -> running -> (waiting ->) exited | killed; `stopped` is reserved for the
scheduler. The table outlives the kernel: `llmos ps --all` shows history, and a kernel that
boots after a crash marks what was left running as `killed (kernel restart)`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import PrivateAttr

from ..syscalls.caps import CapSet
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.proc import ENDED, LIVE, ExitStatus, ProcInfo, ProcState, Quotas, Spent
from .store import Store

__all__ = ["ENDED", "LIVE", "ExitStatus", "ProcState", "Process", "ProcessTable", "Quotas", "Spent"]


class Process(ProcInfo):
    """A process record (syscalls/proc.py: ProcInfo) with its capabilities parsed."""

    _capset: CapSet | None = PrivateAttr(None)

    @property
    def capset(self) -> CapSet:
        if self._capset is None:
            self._capset = CapSet.parse(self.caps)
        return self._capset

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def _alive(host_pid: int | None) -> bool:
    if not host_pid:
        return False
    if host_pid == os.getpid():
        return True
    try:
        os.kill(host_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ProcessTable:
    def __init__(self, store: Store, home: Path):
        self.store = store
        self.home = home

    def _row(self, r: dict) -> Process:
        fields = {k: r[k] for k in Process.model_fields if k in r.keys()}
        fields.update(caps=json.loads(r["caps"]), quotas=json.loads(r["quotas"]), spent=json.loads(r["spent"]),
                      kill_requested=bool(r["kill_requested"]), tool_choice=r["tool_choice"] or "auto")
        return Process.model_validate(fields)

    def spawn(self, *, app: str, task: str, caps: CapSet, quotas: Quotas | None = None, parent: int = 0,
              workspace: str | Path | None = None, priority: int = 0, tool_choice: str = "auto") -> Process:
        q = quotas or Quotas()
        with self.store.lock, self.store.db.conn:
            table = self.store.db["processes"]
            table.insert({
                "parent": parent, "app": app, "task": task, "state": ProcState.READY.value, "priority": priority,
                "caps": json.dumps(caps.strings()), "quotas": q.model_dump_json(), "spent": Spent().model_dump_json(),
                "workspace": "", "created": time.time(), "host_pid": os.getpid(), "kill_requested": 0,
                "tool_choice": tool_choice,
            })
            pid = table.last_pk
            ws = Path(workspace) if workspace else self.home / "proc" / str(pid)
            ws.mkdir(parents=True, exist_ok=True)
            table.update(pid, {"workspace": str(ws.resolve())})
        return self.get(pid)

    def get(self, pid: int) -> Process:
        rows = self.store.query("SELECT * FROM processes WHERE pid = ?", [pid])
        if not rows:
            raise SyscallError(Errno.ENOENT, f"no process {pid}; `llmos ps --all` lists them")
        return self._row(rows[0])

    def list(self, *, all: bool = False) -> list[Process]:
        where = "" if all else f"WHERE state IN ({','.join('?' * len(LIVE))})"
        rows = self.store.query(f"SELECT * FROM processes {where} ORDER BY pid", [] if all else list(LIVE))
        return [self._row(r) for r in rows]

    def children(self, pid: int) -> list[Process]:
        return [self._row(r) for r in self.store.query("SELECT * FROM processes WHERE parent = ? ORDER BY pid", [pid])]

    def is_descendant(self, pid: int, ancestor: int) -> bool:
        if ancestor == 0:
            return True
        seen = set()
        while pid and pid not in seen:
            seen.add(pid)
            parent = self.get(pid).parent
            if parent == ancestor:
                return True
            pid = parent
        return False

    def _update(self, pid: int, **values) -> None:
        with self.store.lock, self.store.db.conn:
            self.store.db["processes"].update(pid, values)

    def set_state(self, pid: int, state: ProcState) -> None:
        """Move a live process to `state`; an ended one stays as it ended (a kill from another
        shell can land between a caller's check and this write)."""
        ended = [ProcState(e).value for e in ENDED]
        with self.store.lock, self.store.db.conn:
            self.store.db.execute(
                f"UPDATE processes SET state = ?, host_pid = ? WHERE pid = ? AND state NOT IN ({','.join('?' * len(ended))})",
                [ProcState(state).value, os.getpid(), pid, *ended])

    def save_spent(self, pid: int, spent: Spent) -> None:
        self._update(pid, spent=spent.model_dump_json())

    def finish(self, pid: int, state: ProcState, status: int, reason: str, reply: str | None = None) -> None:
        """End a process (exited or killed), once: a process that has ended stays as it ended."""
        if self.get(pid).state in ENDED:
            return
        self._update(pid, state=ProcState(state).value, exit_status=int(status), exit_reason=reason, ended=time.time(), reply=reply)

    def request_kill(self, pid: int) -> Process:
        p = self.get(pid)
        if p.state in ENDED:
            raise SyscallError(Errno.EINVAL, f"process {pid} has already ended ({p.state}: {p.exit_reason})")
        if p.state == ProcState.READY or not _alive(p.host_pid):
            self.finish(pid, ProcState.KILLED, ExitStatus.KILLED, "killed")
        elif p.state == ProcState.WAITING:  # nothing running: it ends now
            self.finish(pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "killed (EINTR) while waiting")
        else:
            self._update(pid, kill_requested=1)  # the loop running it sees this between tokens
        return self.get(pid)

    def kill_requested(self, pid: int) -> bool:
        rows = self.store.query("SELECT kill_requested FROM processes WHERE pid = ?", [pid])
        return bool(rows and rows[0]["kill_requested"])

    def recover(self) -> list[int]:
        """At boot: processes left live by a kernel that is gone are marked killed."""
        lost = []
        for p in self.list():
            if p.host_pid != os.getpid() and not _alive(p.host_pid):
                self.finish(p.pid, ProcState.KILLED, ExitStatus.KILLED, "killed (kernel restart)")
                lost.append(p.pid)
        return lost

    # -- mailbox ---------------------------------------------------------------------------

    def send(self, to: int, sender: int, body: str) -> int:
        p = self.get(to)
        if p.state in ENDED:
            raise SyscallError(Errno.ENOENT, f"process {to} has ended; it cannot receive messages")
        with self.store.lock, self.store.db.conn:
            t = self.store.db["mailbox"]
            t.insert({"pid": to, "sender": sender, "body": body, "ts": time.time(), "read": 0})
            return t.last_pk

    def recv(self, pid: int) -> dict | None:
        with self.store.lock, self.store.db.conn:
            rows = list(self.store.db.query(
                "SELECT * FROM mailbox WHERE pid = ? AND read = 0 ORDER BY id LIMIT 1", [pid]))
            if not rows:
                return None
            self.store.db["mailbox"].update(rows[0]["id"], {"read": 1})
            return rows[0]
