"""Kernels in several OS processes on one database: pid allocation, `llmos kill` across processes,
the mailbox, and 32 processes x 200 syscalls at once (no lost write, no "database is locked").

The other processes are tests/mp_helper.py; every wait is bounded, so a hang fails a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet

HELPER = Path(__file__).with_name("mp_helper.py")
LLMOS = Path(sys.executable).with_name("llmos")
BOUND = 120.0  # seconds: a liveness bound (the call must end at all), not a timing
WORKERS, CALLS = 32, 200


def helper(home: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HELPER), args[0], str(home), *map(str, args[1:])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LLMOS_HOME": str(home)})


def result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=BOUND)
    assert p.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def until(cond, what: str) -> None:
    end = time.monotonic() + BOUND
    while not cond():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.01)


def start_together(home: Path, procs: list[subprocess.Popen], ready: list[Path]) -> None:
    until(lambda: all(r.exists() for r in ready) or any(p.poll() is not None for p in procs), "helpers to boot")
    (home / "go").touch()


def test_two_kernels_allocate_distinct_pids(home):
    with Kernel.boot(driver=ScriptedDriver()) as k:
        others = [helper(home, "spawn", 40, tag) for tag in ("a", "b")]
        start_together(home, others, [home / "ready-a", home / "ready-b"])
        mine = [k.spawn(task=f"here {i}", caps=CapSet([])).pid for i in range(40)]
        theirs = [pid for p in others for pid in result(p)["pids"]]
        everything = {p.pid: p for p in k.procs.list(all=True)}
    assert len(set(mine + theirs)) == 120 and set(mine + theirs) == set(everything)
    assert len({everything[pid].workspace for pid in everything}) == 120  # each its own folder


def test_llmos_kill_from_another_process_stops_a_live_loop(home):
    loop = helper(home, "loop")
    pid = json.loads(loop.stdout.readline())["pid"]
    with Kernel.boot(driver=ScriptedDriver()) as k:
        until(lambda: k.procs.get(pid).state == "running", "the loop to run")
    ps = subprocess.run([str(LLMOS), "ps", "--json"], capture_output=True, text=True, timeout=BOUND)
    assert {p["pid"]: p["state"] for p in json.loads(ps.stdout)}[pid] == "running"
    kill = subprocess.run([str(LLMOS), "kill", str(pid)], capture_output=True, text=True, timeout=BOUND)
    assert kill.returncode == 0, kill.stderr
    ended = result(loop)
    assert ended["state"] == "killed" and ended["steps"][-1]["errno"] == "EINTR", ended
    with Kernel.boot(driver=ScriptedDriver()) as k:
        assert k.procs.get(pid).state == "killed"


def test_mailbox_messages_cross_processes_once_and_in_order(home):
    with Kernel.boot(driver=ScriptedDriver()) as k:
        box = k.spawn(task="mailbox", caps=CapSet.parse(["proc.recv"]))
        senders = [helper(home, "send", box.pid, 150, tag) for tag in ("a", "b")]
        start_together(home, senders, [home / "ready-a", home / "ready-b"])
        ctx = k.context(pid=box.pid, caps=box.capset, workspace=box.workspace)
        got: list[str] = []
        end = time.monotonic() + BOUND
        while time.monotonic() < end:  # receive while they send, then until the box is empty
            sending = any(p.poll() is None for p in senders)
            message = k.call("proc.recv", {}, ctx=ctx).message
            if message is not None:
                got.append(message)
            elif not sending:
                break
        for p in senders:
            assert result(p) == {"sent": 150}
    for tag in ("a", "b"):
        assert [m for m in got if m.startswith(tag + ":")] == [f"{tag}:{i}" for i in range(150)]
    assert len(got) == 300


def test_32_processes_200_syscalls_each_lose_nothing(home):
    with Kernel.boot(driver=ScriptedDriver()) as k:
        box = k.spawn(task="mailbox", caps=CapSet([])).pid
    stress = helper(home, "stress", WORKERS, CALLS, box)
    ready = [home / "ready" / str(w) for w in range(WORKERS)]
    until(lambda: all(r.exists() or r.with_suffix(".json").exists() for r in ready) or stress.poll() is not None,
          "the workers to boot")
    (home / "go").touch()
    results = result(stress)["results"]
    problems = [r for r in results if r.get("crash") or r["errors"]]
    assert not problems, problems[:3]
    assert not any("locked" in e for r in results for e in r.get("errors", []))
    with Kernel.boot(driver=ScriptedDriver()) as k:
        per_pid = Counter(row["pid"] for row in k.journal.tail(WORKERS * CALLS + 100))
        sends = [m for m in iter(lambda: k.call("proc.recv", {}, ctx=k.context(pid=box)).message, None)]
        facts = k.call("mem.stat").archival
        assert k.store.integrity() == "ok"
        for r in results:
            ws = Path(k.procs.get(r["pid"]).workspace)
            assert per_pid[r["pid"]] == CALLS  # every call journaled
            writes = [i for i in range(CALLS) if i % 5 == 0]
            assert all((ws / f"f{i}.txt").read_text() == f"{r['worker']}:{i}" for i in writes)
            assert (ws / "log.txt").read_text() == "".join(f"{i}\n" for i in range(CALLS) if i % 5 == 1)
    assert facts == WORKERS * CALLS // 5
    assert sorted(sends) == sorted(f"{w}:{i}" for w in range(WORKERS) for i in range(CALLS) if i % 5 == 3)
