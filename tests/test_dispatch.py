"""The dispatcher: look up, validate, authorize, run, check, journal; only SyscallError escapes."""

from __future__ import annotations

import os

import pytest
from llmos.syscalls.caps import CapSet
from llmos.syscalls.context import CallContext
from llmos.syscalls.dispatch import Dispatcher
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.spec import Args, Result, Syscall


def err(fn, *a, **kw) -> SyscallError:
    with pytest.raises(SyscallError) as info:
        fn(*a, **kw)
    return info.value


def test_unknown_syscall_is_enosys_with_suggestion(kernel):
    e = err(kernel.call, "fs.raed", {"path": "x"})
    assert e.code == Errno.ENOSYS and "fs.read" in e.message
    assert err(kernel.call, "nope.nope").code == Errno.ENOSYS


def test_bad_arguments_name_the_field(kernel):
    e = err(kernel.call, "fs.read", {})
    assert e.code == Errno.EINVAL and "path" in e.message and "required" in e.message
    e = err(kernel.call, "fs.read", {"path": "x", "colour": "red"})
    assert e.code == Errno.EINVAL and "colour: unknown field" in e.message
    e = err(kernel.call, "llm.complete", {"prompt": "x", "max_tokens": -1})
    assert e.code == Errno.EINVAL and "max_tokens" in e.message
    assert err(kernel.call, "fs.read", ["x"]).code == Errno.EINVAL


def test_capability_refused_is_eacces_and_journaled(kernel):
    ctx = kernel.context(pid=7, caps=CapSet.parse(["fs.read", "sys.*"]))
    kernel.call("fs.write", {"path": "a.txt", "content": "x"})
    assert kernel.call("fs.read", {"path": "a.txt"}, ctx=ctx).content == "x"
    e = err(kernel.call, "fs.write", {"path": "a.txt", "content": "y"}, ctx=ctx)
    assert e.code == Errno.EACCES and "fs.write" in e.message and "granted: fs.read, sys.*" in e.message
    assert (kernel.workspace / "a.txt").read_text() == "x"
    last = kernel.journal.tail(1, pid=7)[0]
    assert (last["name"], last["ok"], last["errno"]) == ("fs.write", False, "EACCES")


def test_scoped_capability(kernel):
    ctx = kernel.context(caps=CapSet.parse(["fs.write:out/*.md", "fs.read:workspace/**"]))
    kernel.call("fs.mkdir", {"path": "out"})
    kernel.call("fs.write", {"path": "out/a.md", "content": "ok"}, ctx=ctx)
    assert err(kernel.call, "fs.write", {"path": "out/a.txt", "content": "no"}, ctx=ctx).code == Errno.EACCES
    assert err(kernel.call, "fs.write", {"path": "out/../a.md", "content": "no"}, ctx=ctx).code == Errno.EACCES
    assert kernel.call("fs.read", {"path": "out/a.md"}, ctx=ctx).content == "ok"


class _A(Args):
    n: int = 0


class _R(Result):
    n: int


def _table(handler, timeout=30.0):
    return {"t.x": Syscall("t.x", "test", _A, _R, handler, "t.x", timeout=timeout)}


def _ctx(kernel):
    return CallContext(workspace=kernel.workspace, services=kernel)


def test_handler_crash_becomes_eio(kernel):
    def boom(ctx, a):
        raise ZeroDivisionError("oops")

    d = Dispatcher(_table(boom), None)
    e = err(d.dispatch, _ctx(kernel), "t.x", {})
    assert e.code == Errno.EIO and "ZeroDivisionError" in e.message


def test_wrong_result_type_becomes_eio(kernel):
    d = Dispatcher(_table(lambda ctx, a: {"n": 1}), None)
    assert err(d.dispatch, _ctx(kernel), "t.x", {}).code == Errno.EIO


def test_oserror_is_translated(kernel):
    def missing(ctx, a):
        open("/definitely/not/here")

    d = Dispatcher(_table(missing), None)
    assert err(d.dispatch, _ctx(kernel), "t.x", {}).code == Errno.ENOENT


def test_timeout_and_cancel(kernel):
    def slow(ctx, a):
        while True:
            ctx.check()

    d = Dispatcher(_table(slow, timeout=0.0), None)  # the deadline has passed at the first check
    assert err(d.dispatch, _ctx(kernel), "t.x", {}).code == Errno.ETIMEDOUT
    ctx = _ctx(kernel)
    ctx.cancel.set()
    d = Dispatcher(_table(slow, timeout=10), None)
    assert err(d.dispatch, ctx, "t.x", {}).code == Errno.EINTR


def test_keyboard_interrupt_becomes_eintr(kernel):
    def interrupted(ctx, a):
        raise KeyboardInterrupt

    d = Dispatcher(_table(interrupted), None)
    assert err(d.dispatch, _ctx(kernel), "t.x", {}).code == Errno.EINTR


def test_journal_records_every_call(kernel):
    kernel.call("sys.time")
    err(kernel.call, "fs.read", {"path": "missing"})
    kernel.call("fs.write", {"path": "big.txt", "content": "y" * 1000})
    rows = kernel.journal.tail(3)
    assert [r["name"] for r in rows] == ["sys.time", "fs.read", "fs.write"]
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[1]["errno"] == "ENOENT" and "missing" in rows[1]["message"]
    assert len(rows[2]["args"]["content"]) < 300 and "+800 chars" in rows[2]["args"]["content"]
    assert all(r["duration_ms"] >= 0 for r in rows)


def test_journal_counts_tokens(kernel, scripted):
    scripted.queue("one two three")
    kernel.call("llm.complete", {"prompt": "count"})
    row = kernel.journal.tail(1)[0]
    assert (row["name"], row["tokens_in"], row["tokens_out"]) == ("llm.complete", 5, 3)


def test_text_no_schema_can_take_is_einval_and_journaled(kernel):
    """Found by test_fuzz: a lone surrogate (JSON's "\\ud800") or an integer past 64 bits got
    past validation and crashed a handler or the journal (UnicodeEncodeError, OverflowError)."""
    for name, args in (("fs.write", {"path": "a.txt", "content": "\ud800"}), ("mem.forget", {"id": 2**70}),
                       ("proc.kill", {"pid": 2**64}), ("tool.call", {"name": "calculator", "args": {"x\udc00": 1}})):
        e = err(kernel.call, name, args)
        assert e.code == Errno.EINVAL and ("surrogate" in e.message or "64" in e.message), e
        row = kernel.journal.tail(1)[0]
        assert (row["name"], row["errno"]) == (name, "EINVAL")
    assert not (kernel.workspace / "a.txt").exists()


def test_the_journal_takes_any_call(kernel):
    deep: object = "bottom"
    for _ in range(5000):
        deep = {"k": deep}
    for name, args in (("fs.re\ud800d", {"path": "x"}), ("nope.nope", {"deep": deep})):
        assert err(kernel.call, name, args).code == Errno.ENOSYS
        row = kernel.journal.tail(1)[0]
        assert row["errno"] == "ENOSYS" and row["name"] == name.encode("utf-8", "replace").decode()


@pytest.mark.parametrize("os_errno,code", [(28, Errno.ENOSPC), (27, Errno.EFBIG), (5, Errno.EIO)])
def test_a_full_disk_says_so_and_what_to_do(kernel, os_errno, code):
    def full(ctx, a):
        raise OSError(os_errno, os.strerror(os_errno))

    e = err(Dispatcher(_table(full), None).dispatch, _ctx(kernel), "t.x", {})
    assert e.code == code and "; " in e.message, e
