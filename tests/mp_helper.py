"""The other OS process(es) of tests/test_multiprocess.py: `python tests/mp_helper.py MODE HOME ...`.

Each mode boots its own kernel on the same data directory (LLMOS_HOME) with the scripted
driver and prints one JSON line per result. `stress` imports llmos once and forks its workers
(a fresh interpreter has no threads, so forking is safe), each with its own kernel and SQLite
connection; workers start together when the file `go` appears.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import SyscallError

DEADLINE = 120.0  # seconds any wait here gives up after (a hang must end the test, not the run)


def wait_for(path: Path) -> None:
    end = time.monotonic() + DEADLINE
    while not path.exists():
        if time.monotonic() > end:
            raise SystemExit(f"gave up waiting for {path}")
        time.sleep(0.005)


class SlowDriver(ScriptedDriver):
    """A model that takes its time over every token: a loop stays live until it is killed."""

    def step(self, seqs, **kw):
        time.sleep(0.05)
        return super().step(seqs, **kw)


def spawn(home: Path, n: int, tag: str) -> None:
    with Kernel.boot(home, driver=ScriptedDriver()) as k:
        (home / f"ready-{tag}").touch()
        wait_for(home / "go")
        pids = [k.spawn(task=f"{tag} {i}", caps=CapSet.parse(["fs.read"])).pid for i in range(n)]
    print(json.dumps({"pids": pids}), flush=True)


def loop(home: Path) -> None:
    """Spawn a process and run it on a model that never finishes an action; report how it ended."""
    reply = '{"call": "reply", "args": {"text": "' + "word " * 100_000 + '"}}'
    with Kernel.boot(home, driver=SlowDriver(default=reply)) as k:
        p = k.spawn(task="run until killed", caps=CapSet.parse(["fs.*"]))
        print(json.dumps({"pid": p.pid}), flush=True)
        steps = [s.to_dict() for s in k.run(p.pid)]
        end = k.procs.get(p.pid)
        print(json.dumps({"steps": steps, "state": str(end.state), "reason": end.exit_reason}), flush=True)


def send(home: Path, to: int, n: int, tag: str) -> None:
    with Kernel.boot(home, driver=ScriptedDriver()) as k:
        (home / f"ready-{tag}").touch()
        wait_for(home / "go")
        for i in range(n):
            k.call("proc.send", {"pid": to, "message": f"{tag}:{i}"})
    print(json.dumps({"sent": n}), flush=True)


def worker(home: Path, w: int, calls: int, mailbox: int) -> dict:
    """One of `stress`'s workers: its own kernel and process, `calls` syscalls of every kind that writes."""
    errors: list[str] = []
    with Kernel.boot(home, driver=ScriptedDriver()) as k:
        p = k.spawn(task=f"worker {w}", caps=CapSet.parse(["fs.*", "mem.remember", "proc.send", "sys.time"]))
        ctx = k.context(pid=p.pid, caps=p.capset, workspace=p.workspace)
        (home / "ready" / str(w)).touch()
        wait_for(home / "go")
        plan = [("fs.write", lambda i: {"path": f"f{i}.txt", "content": f"{w}:{i}"}),
                ("fs.append", lambda i: {"path": "log.txt", "content": f"{i}\n"}),
                ("mem.remember", lambda i: {"text": f"worker {w} fact {i}"}),
                ("proc.send", lambda i: {"pid": mailbox, "message": f"{w}:{i}"}),
                ("sys.time", lambda i: {})]
        for i in range(calls):
            name, make = plan[i % len(plan)]
            try:
                k.call(name, make(i), ctx=ctx)
            except SyscallError as err:
                errors.append(f"{name}: {err}")
            except Exception as exc:  # reported, so the test can say what it was
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return {"worker": w, "pid": p.pid, "errors": errors}


def stress(home: Path, workers: int, calls: int, mailbox: int) -> None:
    (home / "ready").mkdir(exist_ok=True)
    children = []
    for w in range(workers):
        child = os.fork()
        if child == 0:
            code = 0
            try:
                result = worker(home, w, calls, mailbox)
                (home / "ready" / f"{w}.json").write_text(json.dumps(result))
            except BaseException as exc:
                (home / "ready" / f"{w}.json").write_text(json.dumps({"worker": w, "crash": repr(exc)}))
                code = 1
            os._exit(code)
        children.append(child)
    for child in children:
        os.waitpid(child, 0)
    results = [json.loads((home / "ready" / f"{w}.json").read_text()) for w in range(workers)]
    print(json.dumps({"results": results}), flush=True)


if __name__ == "__main__":
    mode, home, *rest = sys.argv[1:]
    home = Path(home)
    if mode == "spawn":
        spawn(home, int(rest[0]), rest[1])
    elif mode == "loop":
        loop(home)
    elif mode == "send":
        send(home, int(rest[0]), int(rest[1]), rest[2])
    elif mode == "stress":
        stress(home, int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
