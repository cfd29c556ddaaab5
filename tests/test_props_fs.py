"""Property tests for fs path resolution on random trees with symlinks (hypothesis, seeded).

Each example builds a random workspace of folders, files and symlinks (relative, absolute,
dangling, looping, leading out) next to an `outside` folder holding a secret, then makes fs.*
calls on random paths through the dispatcher. Nothing may leave the workspace, and a scoped
grant holds for where a path really leads, not only for how it is spelled.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.fs import resolve

SECRET = "TOP-SECRET"
NAMES = ["a", "b", "c", "secret.txt"]
TARGETS = ["..", "../..", "../outside", "../outside/secret.txt", "/", "@OUT", "@OUT/secret.txt", "@WS",
           "@WS/b", ".", "a", "a/b", "../b", "../c", "../../c", "b/../..", "c", "loop", "../../outside", "nowhere/x"]

segments = st.lists(st.sampled_from([*NAMES, "..", ".", "loop"]), min_size=1, max_size=4)
entries = st.tuples(st.lists(st.sampled_from([*NAMES, "loop"]), min_size=1, max_size=3).map("/".join),
                    st.sampled_from(["dir", "file", "link", "link"]), st.sampled_from(TARGETS))
trees = st.lists(entries, min_size=1, max_size=12)
prefixes = st.sampled_from(["", "", "", "/", "@OUT/", "@WS/", "./"])
queries = st.tuples(prefixes, segments.map("/".join)).map("".join)


def queries_in(tree):
    """Random paths, and paths through the tree's own entries (where its symlinks are)."""
    own = st.tuples(st.sampled_from([rel for rel, _, _ in tree]), st.sampled_from(["", "/c", "/b", "/..", "/secret.txt"]))
    return st.one_of(queries, own.map("".join))

CALLS = [
    ("fs.read", lambda p: {"path": p}),
    ("fs.stat", lambda p: {"path": p}),
    ("fs.list", lambda p: {"path": p}),
    ("fs.write", lambda p: {"path": p, "content": "w"}),
    ("fs.append", lambda p: {"path": p, "content": "a"}),
    ("fs.mkdir", lambda p: {"path": p, "parents": True}),
    ("fs.remove", lambda p: {"path": p, "recursive": True}),
]


def _fill(text: str, ws: Path, out: Path) -> str:
    return text.replace("@OUT", str(out)).replace("@WS", str(ws))


def _build(ws: Path, out: Path, tree) -> None:
    for rel, kind, target in tree:
        p = ws / rel
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                p.mkdir(exist_ok=True)
            elif kind == "file":
                p.write_text("inside")
            else:
                os.symlink(_fill(target, ws, out), p)
        except OSError:
            pass  # a parent is a file or a dangling link, the entry exists: the tree is what it is


def _snapshot(out: Path) -> list:
    rows = []
    for d, dirs, files in os.walk(out):
        for n in sorted(dirs + files):
            p = Path(d) / n
            rows.append((str(p), p.is_symlink(), p.read_text() if p.is_file() and not p.is_symlink() else None))
    return rows


@pytest.fixture(scope="module")
def fs_kernel(tmp_path_factory, scripted_module):
    k = Kernel.boot(tmp_path_factory.mktemp("fshome"), driver=scripted_module)
    yield k
    k.close()


@pytest.fixture(scope="module")
def scripted_module():
    from llmos.drivers.scripted import ScriptedDriver

    return ScriptedDriver()


def _world(tree):
    base = Path(tempfile.mkdtemp(prefix="llmos-fsprop-")).resolve()
    ws, out = base / "ws", base / "outside"
    ws.mkdir()
    out.mkdir()
    (out / "secret.txt").write_text(SECRET)
    _build(ws, out, tree)
    return base, ws, out


@settings(max_examples=150)
@given(tree=trees, data=st.data())
def test_resolve_never_leaves_the_workspace(tree, data):
    asks = data.draw(st.lists(queries_in(tree), min_size=1, max_size=6), label="paths")
    base, ws, out = _world(tree)
    try:
        for q in asks:
            try:
                real, rel = resolve(ws, _fill(q, ws, out))
            except SyscallError as e:
                assert e.code == Errno.EACCES, e
                continue
            assert os.path.commonpath([ws, real]) == str(ws), (q, real)
            assert not rel.startswith("..") and os.path.realpath(ws / rel) == str(real), (q, rel, real)
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@settings(max_examples=100)
@given(tree=trees, data=st.data())
def test_fs_calls_touch_nothing_outside(fs_kernel, tree, data):
    asks = data.draw(st.lists(st.tuples(st.sampled_from(CALLS), queries_in(tree)), min_size=1, max_size=8), label="calls")
    base, ws, out = _world(tree)
    before = _snapshot(out)
    ctx = fs_kernel.context(workspace=ws)
    try:
        for (name, make), q in asks:
            try:
                r = fs_kernel.call(name, make(_fill(q, ws, out)), ctx=ctx)
            except SyscallError as e:
                assert e.code in set(Errno), e
                continue
            assert not r.path.startswith(".."), (name, q, r.path)
            assert SECRET not in r.model_dump_json(), (name, q)
        assert _snapshot(out) == before
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@settings(max_examples=100)
@given(tree=trees, data=st.data())
def test_a_scoped_grant_holds_where_the_path_leads(fs_kernel, tree, data):
    """fs.*:a/** lets a process touch a/... only, whatever symlinks inside the workspace say."""
    in_a = st.one_of(queries_in(tree), queries_in(tree).map(lambda q: "a/" + q.lstrip("/")))
    asks = data.draw(st.lists(st.tuples(st.sampled_from(CALLS), in_a), min_size=1, max_size=8), label="calls")
    base, ws, out = _world(tree)
    ctx = fs_kernel.context(pid=1, caps=CapSet.parse(["fs.*:a/**"]), workspace=ws)
    try:
        for (name, make), q in asks:
            try:
                r = fs_kernel.call(name, make(_fill(q, ws, out)), ctx=ctx)
            except SyscallError:
                continue
            assert r.path.startswith("a/"), (name, q, r.path)
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
