"""Faults: a full disk, a damaged database, a bad model file. Each gives one clear line
(`llmos: ERRNO: what happened; what to do`), never a traceback, and loses nothing committed.

The disk fills by RLIMIT_FSIZE in a subprocess (SIGXFSZ ignored, so writes fail with EFBIG,
which SQLite reports as an I/O error): no root, no tmpfs needed."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from llmos.drivers.models import ModelStore
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.shell.cli import main

LINE = re.compile(r"llmos: E[A-Z]+: .+; .+")  # what happened; what to do
LLMOS = Path(sys.executable).with_name("llmos")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and LINE.fullmatch(lines[0]) and "Traceback" not in err, err[-2000:]
    return lines[0]


# -- a full disk ------------------------------------------------------------------------------

FILL = """
import contextlib, io, json, sys
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.shell.cli import main
from llmos.syscalls.errno import SyscallError

ok, error = 0, None
k = Kernel.boot(driver=ScriptedDriver())
try:
    for i in range(5000):
        k.call("mem.remember", {"text": f"fact {i} " + "x" * 1500})
        ok += 1
except SyscallError as exc:
    error = str(exc)
k.close()
cli = []
for args in (["call", "mem.remember", "text=" + "y" * 3000], ["call", "fs.write", "--args-json", "-"]):
    err = io.StringIO()
    sys.stdin = io.StringIO(json.dumps({"path": "big.txt", "content": "z" * 300_000}))
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(args)
    cli.append([rc, err.getvalue()])
print(json.dumps({"ok": ok, "error": error, "cli": cli}))
"""


def _limited(nbytes: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


def test_a_full_disk_is_one_line_and_loses_nothing_committed(home):
    with Kernel.boot(driver=ScriptedDriver()) as k:
        for i in range(5):
            k.call("mem.remember", {"text": f"before {i}"})
    biggest = max(p.stat().st_size for p in home.glob("llmos.db*"))
    p = subprocess.run([sys.executable, "-c", FILL], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "LLMOS_HOME": str(home)}, preexec_fn=_limited(biggest + 256 * 1024))
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["ok"] > 0 and got["error"].startswith(("EIO", "ENOSPC", "EFBIG")), got
    assert LINE.fullmatch("llmos: " + got["error"]) and "free" in got["error"]
    for rc, err in got["cli"]:
        if rc:  # (the first process's exit may have checkpointed room for one more)
            one_line(err)
    with Kernel.boot(driver=ScriptedDriver()) as k:  # the disk has room again
        assert k.store.integrity() == "ok"
        archival = k.call("mem.stat").archival
        assert 5 + got["ok"] <= archival <= 5 + got["ok"] + 2  # every reported success is there
        k.call("mem.remember", {"text": "after"})


# -- a damaged database -----------------------------------------------------------------------

COMMANDS = [["ps", "--all"], ["journal"], ["log", "1"], ["app", "list"], ["call", "sys.info"],
            ["call", "mem.remember", "text=new"], ["call", "mem.stat"], ["call", "proc.spawn", "task=x"],
            ["call", "fs.write", "path=b.txt", "content=x"]]


def _history(home: Path) -> bytes:
    with Kernel.boot(driver=ScriptedDriver()) as k:
        from llmos.syscalls.caps import CapSet

        k.spawn(task="t", caps=CapSet.parse(["fs.read"]))
        for i in range(20):
            k.call("mem.remember", {"text": f"fact {i} " + "x" * 2000})
        k.call("fs.write", {"path": "a.txt", "content": "kept"})
    return (home / "llmos.db").read_bytes()


def _root_pages(db: Path, table: str) -> list[int]:
    """The first page of `table` and of each of its indexes."""
    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0", [table])]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "processes", "journal", "grants", "mem_items", "messages"])
def test_a_damaged_database_is_one_line(home, capsys, damage):
    good = _history(home)
    db = home / "llmos.db"
    if damage == "garbage":
        db.write_bytes(os.urandom(len(good)))
    elif damage == "truncated":
        db.write_bytes(good[: len(good) // 2])
    else:  # one table's (and its indexes') first page zeroed: the file opens, that table does not read
        data = bytearray(good)
        for page in _root_pages(db, damage):
            data[(page - 1) * 4096 : page * 4096] = bytes(4096)
        db.write_bytes(bytes(data))
    failed = 0
    for argv in COMMANDS:
        rc = main(argv)
        _, err = capsys.readouterr()
        if rc:
            failed += 1
            line = one_line(err)
            assert "Traceback" not in line
    assert failed  # the damage was met, and each time said so in one line


# -- a bad model file -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["short", "magic", "garbage"])
def test_a_bad_model_file_is_one_line_and_loses_nothing(home, tmp_path, bad):
    real = ModelStore(tmp_path / "models").default_path().read_bytes()
    model = tmp_path / f"{bad}.gguf"
    model.write_bytes({"short": real[: len(real) - 100_000], "magic": b"GGUF" + os.urandom(4096),
                       "garbage": os.urandom(4096)}[bad])
    with Kernel.boot(driver=ScriptedDriver()) as k:
        k.call("mem.remember", {"text": "committed before"})
    p = subprocess.run([str(LLMOS), "call", "llm.complete", "prompt=hi", "max_tokens=2", "--model", str(model)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "LLMOS_HOME": str(home)})
    assert p.returncode != 0 and str(model) in one_line(p.stderr)
    with Kernel.boot(driver=ScriptedDriver()) as k:
        last = k.journal.tail(1)[0]
        assert (last["name"], last["ok"]) == ("llm.complete", False)
        assert k.call("mem.stat").archival == 1 and k.store.integrity() == "ok"
