"""The permission matrix: every syscall x granted / ungranted / scope in / scope out x root /
process / child. A cell that grants the call must succeed; every other must be EACCES "not
granted", journaled, with nothing changed in the caller's workspace.

Grants per cell, for a syscall whose capability is C:
  granted    C                  allowed
  ungranted  every other call   denied (a neighbour's grant does not leak)
  scope in   C:in/** (fs.*), C:calc* (tool.call)   allowed
             C:** for a call without a scope       denied: a scoped grant never allows one
  scope out  C:out/**, C:other, C:nothing          denied
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.syscalls.caps import ROOT, CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.table import TABLE

GRANTS = ["granted", "ungranted", "scope in", "scope out"]
CALLERS = ["root", "process", "child"]
REPLY = '{"call": "reply", "args": {"text": "done"}}'
SCOPE_IN = {"tool.call": "calc*"}  # fs.*: in/**
SCOPE_OUT = {"tool.call": "other"}  # fs.*: out/**
ROOT_ONLY = {"sys.grant", "sys.revoke"}  # granted or not, only root (the user) may change grants


class HashEmbedder:
    loaded = True

    def __init__(self, *a, **kw):
        pass

    def embed(self, texts):
        out = np.zeros((len(texts), 384), np.float32)
        for i, t in enumerate(texts):
            out[i, hashlib.sha256(t.encode()).digest()[0] % 384] = 1.0
        return out


def arguments(k: Kernel, name: str, me: int, ws: Path) -> dict:
    """Arguments with which `name` succeeds for caller `me` in workspace `ws` (setting up what
    it needs as root), so that the only way it can fail is the grant."""
    (ws / "in" / "sub").mkdir(parents=True, exist_ok=True)
    (ws / "in" / "x.txt").write_text("x")
    as_me = k.context(pid=me, caps=ROOT, workspace=ws)  # setup only: owned by the caller
    return {
        "fs.read": {"path": "in/x.txt"}, "fs.stat": {"path": "in/x.txt"}, "fs.list": {"path": "in/sub"},
        "fs.write": {"path": "in/x.txt", "content": "new"}, "fs.append": {"path": "in/x.txt", "content": "+"},
        "fs.remove": {"path": "in/x.txt"}, "fs.mkdir": {"path": "in/newdir", "parents": True},
        "llm.complete": {"prompt": "hi", "max_tokens": 4}, "llm.tokenize": {"text": "hi"},
        "llm.chat": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        "mem.remember": {"text": "a fact"}, "mem.recall": {"query": "fact"}, "mem.core": {}, "mem.stat": {},
        "mem.append": {"role": "user", "content": "hi"}, "mem.window": {},
        "mem.forget": lambda: {"id": k.call("mem.remember", {"text": "forget me"}, ctx=as_me).id},
        "proc.spawn": {"task": "t"}, "proc.ps": {}, "proc.recv": {}, "proc.exit": {"status": 0},
        "proc.wait": lambda: {"pid": k.spawn(task="w", caps=CapSet([]), parent=me).pid},
        "proc.kill": lambda: {"pid": k.spawn(task="k", caps=CapSet([]), parent=me).pid},
        "proc.send": lambda: {"pid": k.spawn(task="s", caps=CapSet([])).pid, "message": "hi"},
        "sys.info": {}, "sys.time": {}, "sys.grant": {"app": "matrix", "caps": ["fs.read"]},
        "sys.revoke": {"app": "matrix", "caps": ["fs.read"]}, "sys.syscalls": {"family": "sys"}, "tool.list": {},
        "tool.call": {"name": "calculator", "args": {"expression": "1+1"}},
    }[name]


def grants_for(name: str, cell: str) -> list[str]:
    spec = TABLE[name]
    cap = spec.capability
    if cell == "granted":
        return [cap]
    if cell == "ungranted":
        return sorted({s.capability for s in TABLE.values()} - {cap})
    if spec.scope is None:
        return [f"{cap}:**" if cell == "scope in" else f"{cap}:nothing"]
    if cell == "scope in":
        return [f"{cap}:{SCOPE_IN.get(name, 'in/**')}"]
    return [f"{cap}:{SCOPE_OUT.get(name, 'out/**')}"]


def allowed(name: str, cell: str) -> bool:
    return cell == "granted" or (cell == "scope in" and TABLE[name].scope is not None)


@pytest.fixture(scope="module")
def matrix_kernel(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("llmos.kernel.memory.embed.MiniLM", HashEmbedder)
        k = Kernel.boot(tmp_path_factory.mktemp("permhome"), driver=ScriptedDriver(default=REPLY))
        yield k
        k.close()


def caller(k: Kernel, who: str, caps: list[str]):
    """(pid, workspace, call) for a caller holding exactly `caps`."""
    if who == "root":
        ctx = k.context(caps=CapSet.parse(caps))
        return 0, k.workspace, lambda name, args: k.call(name, args, ctx=ctx)
    if who == "process":
        p = k.spawn(task="matrix", caps=CapSet.parse(caps))
    else:  # a child its parent spawned through proc.spawn, handing down exactly `caps`
        parent = k.spawn(task="parent", caps=CapSet.parse([*caps, "proc.spawn"]))
        got = k.process_sys(parent.pid).proc.spawn(task="child", caps=caps)
        p = k.procs.get(got.pid)
        assert p.parent == parent.pid and p.caps == caps
    stubs = k.process_sys(p.pid)
    return p.pid, Path(p.workspace), lambda name, args: getattr(getattr(stubs, name.split(".")[0]), name.split(".")[1])(**args)


def _tree(ws: Path) -> dict:
    return {str(p.relative_to(ws)): p.read_bytes() if p.is_file() else None for p in sorted(ws.rglob("*"))}


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("cell", GRANTS)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_permission_matrix(matrix_kernel, name, cell, who):
    k = matrix_kernel
    pid, ws, call = caller(k, who, grants_for(name, cell))
    args = arguments(k, name, pid, ws)
    args = args() if callable(args) else args
    before = _tree(ws)
    try:
        call(name, args)
        outcome = "ok"
    except SyscallError as err:
        outcome = err
    if allowed(name, cell):
        if who == "root" and name in ("proc.exit", "mem.append", "mem.window"):
            # the shell is not a process: allowed, but it has nothing to exit and no conversation
            assert isinstance(outcome, SyscallError) and outcome.code == Errno.EINVAL, outcome
        elif name in ROOT_ONLY and who != "root":  # a process holding the capability is still refused
            assert isinstance(outcome, SyscallError) and outcome.code == Errno.EACCES, outcome
            assert "root" in outcome.message, outcome.message
        else:
            assert outcome == "ok", f"{name} {cell} {who}: {outcome}"
    else:
        assert isinstance(outcome, SyscallError) and outcome.code == Errno.EACCES, f"{name} {cell} {who}: {outcome}"
        assert "not granted" in outcome.message, outcome.message
        assert _tree(ws) == before
        row = k.journal.tail(1, pid=pid)[0]
        assert (row["name"], row["ok"], row["errno"]) == (name, False, "EACCES")


def test_a_child_cannot_get_more_than_its_parent(matrix_kernel):
    k = matrix_kernel
    parent = k.spawn(task="parent", caps=CapSet.parse(["proc.spawn", "fs.read:*", "tool.call:calc*"]))
    spawn = k.process_sys(parent.pid).proc.spawn
    for wider in (["fs.read"], ["fs.read:**"], ["fs.read:a?"], ["fs.write:x"], ["tool.call"], ["*"]):
        with pytest.raises(SyscallError) as info:
            spawn(task="child", caps=wider)
        assert info.value.code == Errno.EACCES, wider
    assert spawn(task="child", caps=["fs.read:notes.txt", "tool.call:calculator"]).pid
    assert os.path.isdir(k.procs.get(parent.pid).workspace)
