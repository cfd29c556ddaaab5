"""fs.*: what each call does, and that no path leads out of the workspace."""

from __future__ import annotations

import base64
import os

import pytest
from llmos.syscalls.errno import Errno, SyscallError


def err(kernel, name, **args) -> SyscallError:
    with pytest.raises(SyscallError) as info:
        kernel.call(name, args)
    return info.value


def test_write_read_append_roundtrip(kernel):
    r = kernel.call("fs.write", {"path": "notes.txt", "content": "hello"})
    assert (r.path, r.bytes_written, r.size) == ("notes.txt", 5, 5)
    kernel.call("fs.append", {"path": "notes.txt", "content": " world"})
    got = kernel.call("fs.read", {"path": "notes.txt"})
    assert got.content == "hello world" and got.size == 11
    assert (kernel.workspace / "notes.txt").read_text() == "hello world"


def test_read_part_with_offset_and_length(kernel):
    kernel.call("fs.write", {"path": "a.txt", "content": "0123456789"})
    assert kernel.call("fs.read", {"path": "a.txt", "offset": 3, "length": 4}).content == "3456"


def test_binary_roundtrip_base64(kernel):
    blob = bytes(range(256))
    kernel.call("fs.write", {"path": "b.bin", "content": base64.b64encode(blob).decode(), "encoding": "base64"})
    got = kernel.call("fs.read", {"path": "b.bin", "encoding": "base64"})
    assert base64.b64decode(got.content) == blob
    e = err(kernel, "fs.read", path="b.bin")
    assert e.code == Errno.EINVAL and "base64" in e.message


def test_bad_base64_is_einval(kernel):
    assert err(kernel, "fs.write", path="x", content="@@@", encoding="base64").code == Errno.EINVAL


def test_size_limits_efbig(kernel):
    kernel.limits.write_bytes = 10
    assert err(kernel, "fs.write", path="big.txt", content="x" * 11).code == Errno.EFBIG
    kernel.limits.write_bytes = 1 << 20
    kernel.call("fs.write", {"path": "big.txt", "content": "x" * 100})
    kernel.limits.read_bytes = 50
    e = err(kernel, "fs.read", path="big.txt")
    assert e.code == Errno.EFBIG and "offset" in e.message
    assert kernel.call("fs.read", {"path": "big.txt", "length": 50}).bytes_read == 50


def test_list_stat_mkdir_remove(kernel):
    assert kernel.call("fs.mkdir", {"path": "d"}).created
    assert err(kernel, "fs.mkdir", path="d").code == Errno.EEXIST
    assert kernel.call("fs.mkdir", {"path": "d/e/f", "parents": True}).created
    kernel.call("fs.write", {"path": "d/e/f/x.txt", "content": "x"})
    kernel.call("fs.write", {"path": "top.txt", "content": "abc"})
    names = {(e.name, e.type) for e in kernel.call("fs.list", {}).entries}
    assert names == {("d", "dir"), ("top.txt", "file")}
    s = kernel.call("fs.stat", {"path": "top.txt"})
    assert (s.type, s.size) == ("file", 3)
    assert kernel.call("fs.stat", {"path": "d"}).type == "dir"
    assert err(kernel, "fs.remove", path="d").code == Errno.ENOTEMPTY
    assert kernel.call("fs.remove", {"path": "d", "recursive": True}).removed == 4
    assert kernel.call("fs.remove", {"path": "top.txt"}).removed == 1
    assert kernel.call("fs.list", {"path": "."}).entries == []


def test_errors_are_errno(kernel):
    assert err(kernel, "fs.read", path="missing.txt").code == Errno.ENOENT
    kernel.call("fs.mkdir", {"path": "dir"})
    assert err(kernel, "fs.read", path="dir").code == Errno.EISDIR
    assert err(kernel, "fs.write", path="dir", content="x").code == Errno.EISDIR
    kernel.call("fs.write", {"path": "file", "content": "x"})
    assert err(kernel, "fs.list", path="file").code == Errno.ENOTDIR
    assert err(kernel, "fs.write", path="no/such/dir/x.txt", content="x").code == Errno.ENOENT
    assert kernel.call("fs.write", {"path": "no/such/dir/x.txt", "content": "x", "parents": True}).size == 1
    assert err(kernel, "fs.remove", path=".").code == Errno.EACCES
    assert err(kernel, "fs.read", path="x" * 5000).code == Errno.EINVAL


def test_symlink_inside_workspace_is_fine(kernel):
    kernel.call("fs.write", {"path": "real.txt", "content": "inside"})
    os.symlink("real.txt", kernel.workspace / "link.txt")
    assert kernel.call("fs.read", {"path": "link.txt"}).content == "inside"
    assert {e.name: e.type for e in kernel.call("fs.list", {}).entries}["link.txt"] == "symlink"


# -- escapes -----------------------------------------------------------------------------------

FS_CALLS = {
    "fs.read": {},
    "fs.write": {"content": "pwned"},
    "fs.append": {"content": "pwned"},
    "fs.list": {},
    "fs.stat": {},
    "fs.remove": {"recursive": True},
    "fs.mkdir": {"parents": True},
}


@pytest.fixture
def trap(kernel, tmp_path):
    """An outside directory with a secret, and symlinks in the workspace that point at it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    ws = kernel.workspace
    os.symlink(outside, ws / "dirlink_abs")  # directory, absolute target
    os.symlink(os.path.relpath(outside, ws), ws / "dirlink_rel")  # directory, relative target
    os.symlink(outside / "secret.txt", ws / "filelink_abs")  # file, absolute
    os.symlink(os.path.relpath(outside / "secret.txt", ws), ws / "filelink_rel")  # file, relative
    os.symlink("filelink_abs", ws / "chain1")  # chain: chain2 -> chain1 -> outside
    os.symlink("chain1", ws / "chain2")
    os.symlink(outside / "new.txt", ws / "dangling_out")  # dangling, would create outside
    (ws / "sub").mkdir()
    os.symlink("../dirlink_rel", ws / "sub" / "up")  # nested hop out
    return outside


def attacks(outside) -> list[str]:
    depth = "../" * 12
    return [
        "../secret.txt",
        "../outside/secret.txt",
        f"{depth}etc/passwd",
        "sub/../../outside/secret.txt",
        "sub/../../../",
        "./../outside",
        "..",
        "../",
        "sub/..//../outside/secret.txt",
        str(outside / "secret.txt"),
        str(outside),
        "/etc/passwd",
        "/",
        "/tmp",
        "dirlink_abs/secret.txt",
        "dirlink_rel/secret.txt",
        "dirlink_abs",
        "dirlink_rel/",
        "filelink_abs",
        "filelink_rel",
        "chain2",
        "dangling_out",
        "sub/up/secret.txt",
        "sub/up",
        "notes\x00.txt",
        "\x00",
        "dirlink_abs/../dirlink_abs/secret.txt",
    ]


@pytest.mark.parametrize("name", sorted(FS_CALLS))
def test_no_escape(kernel, trap, name):
    before = sorted(p.name for p in trap.iterdir())
    for path in attacks(trap):
        with pytest.raises(SyscallError) as info:
            kernel.call(name, {"path": path, **FS_CALLS[name]})
        assert info.value.code == Errno.EACCES, (name, path, info.value)
    assert sorted(p.name for p in trap.iterdir()) == before
    assert (trap / "secret.txt").read_text() == "TOP SECRET"


def test_absolute_path_inside_workspace_is_allowed(kernel):
    kernel.call("fs.write", {"path": "a.txt", "content": "ok"})
    assert kernel.call("fs.read", {"path": str(kernel.workspace / "a.txt")}).content == "ok"


def test_symlink_swapped_in_after_check_is_refused(kernel, tmp_path, monkeypatch):
    """TOCTOU: the path resolves inside, then a component becomes a symlink out before open."""
    from llmos.syscalls import fs

    outside = tmp_path / "out2"
    outside.mkdir()
    (outside / "s.txt").write_text("secret")
    (kernel.workspace / "d").mkdir()
    (kernel.workspace / "d" / "s.txt").write_text("inside")
    real_resolve = fs.resolve

    def racing_resolve(root, path):
        got = real_resolve(root, path)
        (kernel.workspace / "d" / "s.txt").unlink()
        (kernel.workspace / "d").rmdir()
        os.symlink(outside, kernel.workspace / "d")
        return got

    monkeypatch.setattr(fs, "resolve", racing_resolve)
    e = err(kernel, "fs.read", path="d/s.txt")
    assert e.code == Errno.EACCES


def test_a_scoped_grant_holds_where_a_symlink_leads(kernel):
    """Found by test_props_fs: fs.read:pub/** read pub/link -> ../secret.txt."""
    from llmos.syscalls.caps import CapSet

    (kernel.workspace / "pub").mkdir()
    (kernel.workspace / "secret.txt").write_text("s")
    os.symlink("../secret.txt", kernel.workspace / "pub" / "link")
    ctx = kernel.context(pid=1, caps=CapSet.parse(["fs.read:pub/**", "fs.write:pub/**"]))
    for name, args in (("fs.read", {"path": "pub/link"}), ("fs.write", {"path": "pub/link", "content": "x"})):
        with pytest.raises(SyscallError) as info:
            kernel.call(name, args, ctx=ctx)
        assert info.value.code == Errno.EACCES and "leads to 'secret.txt'" in info.value.message
    assert (kernel.workspace / "secret.txt").read_text() == "s"
