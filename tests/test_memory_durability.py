"""Nothing acknowledged is lost to kill -9, and concurrent writers never see "database is locked"."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from llmos.kernel.memory import Memory
from llmos.kernel.store import Store

# Prints "tag:n:id" only after append() returned, i.e. after the commit: that is an acknowledgement.
WRITER = """
import sys, time
from pathlib import Path
from llmos.kernel.store import Store
from llmos.kernel.memory import Memory
home, tag, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
m = Memory(Store(home / "llmos.db"))
worst, n, t0 = 0.0, 0, time.perf_counter()
while n < limit:
    t = time.perf_counter()
    mid = m.append(1 + n % 3, "user", f"{tag}:{n} " + "payload " * (n % 40))
    worst = max(worst, time.perf_counter() - t)
    print(f"{tag}:{n}:{mid}", flush=True)
    n += 1
print(f"done {tag} worst_ms={worst * 1000:.1f} rate={n / (time.perf_counter() - t0):.0f}/s", flush=True)
"""


def _writer(home, tag: str, limit: int = 10**9) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(home), tag, str(limit)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _acks(out: str) -> dict[str, int]:
    acks = {}
    for line in out.splitlines():
        parts = line.split(":")
        if len(parts) == 3 and parts[2].isdigit():
            acks[f"{parts[0]}:{parts[1]}"] = int(parts[2])
    return acks


def test_sigkill_loses_nothing_acknowledged(home):
    home.mkdir(parents=True, exist_ok=True)
    Store(home / "llmos.db").close()  # migrated once, so every kill lands in the write loop or startup
    rng = random.Random(20261129)  # seeded strike times: the same kills every run
    acked: dict[str, int] = {}
    kills = 0
    for rounds in range(6):
        procs = [_writer(home, f"r{rounds}w{i}") for i in range(2)]  # two at once: kills mid-contention too
        first = procs[0].stdout.readline()  # wait out the interpreter's startup, then strike at random
        time.sleep(rng.uniform(0.0, 0.3))
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            out, err = p.communicate(timeout=30)
            assert p.returncode == -signal.SIGKILL and "locked" not in err, err
            acked.update(_acks((first if p is procs[0] else "") + out))
            kills += 1
    assert len(acked) > 100 and kills >= 10, (len(acked), kills)  # the test did kill mid-stream
    s = Store(home / "llmos.db")
    assert s.integrity() == "ok"
    rows = {r["content"].split(" ")[0]: r["id"] for r in s.db.query("SELECT id, content FROM messages")}
    missing = [k for k, mid in acked.items() if rows.get(k) != mid]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
    # each message is whole: indexed with it in the same transaction
    assert s.db.execute("SELECT count(*) FROM mem_items WHERE source = 'conversation'").fetchone()[0] == len(rows)
    assert s.db.execute("SELECT count(*) FROM mem_fts").fetchone()[0] == len(rows)
    s.close()


def test_concurrent_writers_are_never_locked_out(home):
    home.mkdir(parents=True, exist_ok=True)
    Store(home / "llmos.db").close()
    n, per = 4, 150
    procs = [_writer(home, f"c{i}", per) for i in range(n)]
    main = Memory(Store(home / "llmos.db"))  # and this process writes at the same time
    mine = [main.append(9, "assistant", f"main:{i}") for i in range(per)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and "locked" not in err and "Error" not in err, err
        assert len(_acks(out)) == per
    worst = [float(out.split("worst_ms=")[1].split()[0]) for out, _ in results]
    print(f"\n{n} writer processes + 1, {per} appends each; worst append wait {max(worst):.0f} ms")
    total = main.store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert total == n * per + len(mine) and main.store.integrity() == "ok"
    main.store.close()
