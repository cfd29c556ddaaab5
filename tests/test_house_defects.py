"""The defects the house review found, each pinned by a test that failed before its fix.

All on the scripted driver, which is a full step engine: these run the scheduled path.
"""

from __future__ import annotations

import json

import pytest
from llmos.drivers.base import DriverError, Sampling
from llmos.drivers.errno import Errno
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import SyscallError
from llmos.syscalls.grammar import render_call

AGENT = CapSet.parse(["fs.read", "fs.list", "fs.stat", "fs.write", "fs.append", "fs.mkdir", "tool.call",
                      "sys.time", "mem.*"])
REPLY = "done"


def test_ended_processes_leave_no_kv_behind(home):
    """KV leak: 20 processes one after another on 2 slots used to leave 19 swap images (the
    slot kept owner=pid after the process ended, so a later eviction saved a dead process's
    KV for good). Now an ended process's KV is never swapped or kept."""
    d = ScriptedDriver(default=REPLY, n_seq=2)
    with Kernel.boot(driver=d) as k:
        for i in range(20):
            p = k.spawn(task=f"task number {i} " + "x" * i, caps=AGENT)
            for _ in k.run(p.pid):
                pass
            assert k.procs.get(p.pid).state == "exited"
        s = k.scheduler
        s.generate(None, [1, 2, 3], Sampling(max_tokens=1))  # one more tick: the last forget is taken in
        assert s.swap.images == {} and s.swaps_out == 0
        assert all(o is None for o in s.owner)


def test_batch_jobs_leave_no_kv_behind(home, tmp_path):
    """`llmos batch` keyed each line's KV by its index and never dropped it; lines are one-shot."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"prompt": f"line {i} " + "y" * 50, "max_tokens": 2}) + "\n" for i in range(12)))
    k = Kernel.boot(driver=ScriptedDriver(default="ok", n_seq=2))
    from llmos.shell import cmd_sched
    from llmos.shell.env import Env
    from llmos.shell.render import Out

    class NS:
        file, out, max_tokens, temperature = str(jobs), str(tmp_path / "out.jsonl"), 2, 0.0

    try:
        assert cmd_sched.batch(Env(lambda: k, Out()), NS) == 0
        assert {row["name"] for row in k.journal.tail(12)} == {"llm.complete"}  # through llm.*, journaled
        s = k.scheduler
        assert s.swap.images == {} and all(o is None for o in s.owner)
    finally:
        k.close()


def test_many_processes_never_get_a_negative_window(home):
    """400 short processes one after another in one kernel: the agent's longest possible action
    (its grammar's bound, ~2,500 characters) was reserved out of the window, which went
    negative on `llmos batch`'s 2,048-token slots (the real model's system prompt is ~285
    tokens), and processes failed with EFBIG. Now an action takes at most a share of the
    window. (Scripted tokens are bytes, so the same squeeze shows at 8,192: the prompt is
    ~5,800 of them.)"""
    d = ScriptedDriver(default=REPLY, n_ctx=8192, n_seq=2)
    with Kernel.boot(driver=d) as k:
        failed = []
        for i in range(400):
            p = k.spawn(task=f"short task {i}", caps=AGENT)
            for step in k.run(p.pid):
                if step.type == "error" or step.errno == "EFBIG":
                    failed.append((i, step.message or step.reason))
        assert not failed, failed[:3]
        assert {p.state for p in k.procs.list(all=True)} == {"exited"}


def test_driver_error_codes_outside_the_errno_list_are_eio_not_a_crash(kernel):
    """DriverError("ENOSPC") used to make Errno("ENOSPC") raise ValueError past the dispatcher,
    unjournaled. Every code is an Errno now, and an unknown one becomes EIO."""
    assert DriverError("ENOSPC", "full").code is Errno.ENOSPC
    assert DriverError("EWHATEVER", "odd").code is Errno.EIO
    assert SyscallError("EAGAIN", "again").code is Errno.EAGAIN

    def full(*a, **kw):
        raise DriverError("ENOSPC", "no room in the KV")

    kernel.router.generate = full
    before = len(kernel.journal.tail(1000))
    with pytest.raises(SyscallError) as e:
        kernel.call("llm.complete", {"prompt": "hi", "max_tokens": 2})
    assert e.value.code == Errno.ENOSPC
    rows = kernel.journal.tail(1000)
    assert len(rows) == before + 1 and rows[-1]["errno"] == "ENOSPC"


@pytest.mark.parametrize("exc", [KeyError("defs"), ValueError("cannot make a grammar for schema")])
def test_grammar_failures_end_the_process_not_escape(kernel, monkeypatch, exc):
    """A KeyError or ValueError from building the grammar used to escape kernel.run and leave
    the process `running`."""
    import llmos.kernel.loop as loop

    def broken(*a, **kw):
        raise exc

    monkeypatch.setattr(loop, "action_grammar", broken)
    p = kernel.spawn(task="anything", caps=AGENT)
    steps = list(kernel.run(p.pid))
    assert steps[-1].type == "error" and steps[-1].errno == "EINVAL"
    end = kernel.procs.get(p.pid)
    assert end.state == "exited" and end.exit_status == 1 and "grammar" in end.exit_reason


def test_a_kernel_bug_mid_loop_ends_the_process_with_eio(kernel, scripted, monkeypatch):
    scripted.queue(render_call("sys.time", {}))

    def broken(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(kernel.dispatcher, "dispatch", broken)
    p = kernel.spawn(task="what time is it", caps=AGENT)
    steps = list(kernel.run(p.pid))
    assert steps[-1].type == "error" and steps[-1].errno == "EIO" and "boom" in steps[-1].reason
    assert kernel.procs.get(p.pid).state == "exited"


def test_a_caller_that_stops_iterating_leaves_the_process_ended(kernel, scripted):
    scripted.queue(render_call("sys.time", {}), REPLY)
    p = kernel.spawn(task="what time is it", caps=AGENT)
    it = kernel.run(p.pid)
    next(it)  # the first action
    it.close()  # the shell's Ctrl-C
    end = kernel.procs.get(p.pid)
    assert end.state == "killed" and end.exit_reason == "interrupted"


def test_an_overlong_action_is_an_observation_not_the_end(home):
    """An action cut off by its length bound (not the token quota) tells the model to be
    shorter, and the process goes on."""
    cut = '<tool_call>[\n{"name": "fs.write", "arguments": {"path": "a.txt", "content": "' + "word " * 2400
    d = ScriptedDriver(replies=[cut], default=REPLY, n_ctx=8192)  # an action: at most 2,048 tokens
    with Kernel.boot(driver=d) as k:
        p = k.spawn(task="write a lot", caps=AGENT, max_tokens=100_000)
        steps = list(k.run(p.pid))
        assert [s.errno for s in steps if s.type == "observation"] == ["EFBIG"]
        assert steps[-1].type == "reply" and k.procs.get(p.pid).exit_status == 0


def test_a_batch_line_is_not_timed_out_by_its_wait_in_the_queue(kernel, scripted):
    """`llmos batch` lines are llm.* calls; on a busy machine 77 of 80 ended ETIMEDOUT because the
    call's time limit counted the time spent queued behind the other lines."""
    from dataclasses import replace

    from llmos.syscalls.dispatch import Dispatcher
    from llmos.syscalls.table import TABLE

    d = Dispatcher({**TABLE, "llm.complete": replace(TABLE["llm.complete"], timeout=0.0)}, None)
    scripted.queue("done")
    ctx = kernel.context()
    ctx.one_shot = True  # what llmos batch sets
    assert d.dispatch(ctx, "llm.complete", {"prompt": "x", "max_tokens": 4}).text == "done"
    scripted.queue("late")
    with pytest.raises(SyscallError) as e:  # any other call keeps its limit
        d.dispatch(kernel.context(), "llm.complete", {"prompt": "y", "max_tokens": 4})
    assert e.value.code == Errno.ETIMEDOUT


def test_a_driver_bug_fails_the_call_instead_of_hanging_it(home):
    """Found by the reliability suite: _place caught only DriverError, so any other exception
    from open_seq left the request in neither queue and its caller waiting for ever."""
    import threading

    class BuggyDriver(ScriptedDriver):
        def open_seq(self, *a, **kw):
            raise RuntimeError("driver bug")

    got = []
    with Kernel.boot(driver=BuggyDriver(default="hi")) as k:
        def call():
            try:
                k.call("llm.complete", {"prompt": "hi"})
            except SyscallError as e:
                got.append(e.code)

        t = threading.Thread(target=call, daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive() and got == [Errno.EIO]
