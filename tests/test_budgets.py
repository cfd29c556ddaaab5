"""One budget per process, charged in the dispatcher: code apps, LLM apps and children all draw
from it, a child's spending is charged to its parent, and a kill stops a code app at its next
syscall."""

from __future__ import annotations

from llmos.apps.launch import run_code_app
from llmos.apps.sdk import App
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.grammar import render_call


def code_app(main, caps=("fs.*", "llm.*", "sys.*", "proc.*")) -> App:
    return App({"name": "probe", "description": "a test code app", "kind": "code", "capabilities": list(caps)},
               main=main)


def start(kernel, app: App, **quotas):
    return kernel.spawn(task="go", caps=CapSet.parse(app.manifest.capabilities), app=app.name, **quotas)


def test_a_code_app_looping_on_fs_write_stops_at_its_byte_quota(kernel):
    writes = []

    def main(sys, task):
        for i in range(10_000):
            sys.fs.append(path="log.txt", content="x" * 100)
            writes.append(i)

    app = code_app(main)
    p = start(kernel, app, max_bytes=1000)
    status, why = run_code_app(kernel, app, p)
    done = kernel.procs.get(p.pid)
    assert status == 122 and why.startswith("EDQUOT") and "write quota" in why
    assert len(writes) == 10 and done.spent.bytes == 1000 and done.state == "exited" and done.exit_status == 122
    assert (kernel.workspace.parent / "proc" / str(p.pid) / "log.txt").stat().st_size == 1000


def test_a_code_app_swallowing_edquot_still_cannot_write(kernel):
    def main(sys, task):
        refused = 0
        for _ in range(50):
            try:
                sys.fs.append(path="log.txt", content="y" * 64)
            except SyscallError as err:
                assert err.code == Errno.EDQUOT
                refused += 1
        return f"refused {refused}"

    app = code_app(main)
    p = start(kernel, app, max_bytes=200)
    status, text = run_code_app(kernel, app, p)
    assert (status, text) == (0, "refused 47") and kernel.procs.get(p.pid).spent.bytes == 192


def test_each_syscall_of_a_code_app_is_a_step(kernel):
    calls = []

    def main(sys, task):
        while True:
            sys.sys.time()
            calls.append(1)

    app = code_app(main)
    p = start(kernel, app, max_steps=5)
    status, why = run_code_app(kernel, app, p)
    assert status == 122 and "step quota of 5" in why and len(calls) == 5


def test_a_code_app_cannot_generate_past_its_token_quota(kernel, scripted):
    scripted.default = " ".join(["word"] * 50)
    got = []

    def main(sys, task):
        while True:
            got.append(sys.llm.chat(messages=[{"role": "user", "content": "talk"}], max_tokens=40).completion_tokens)

    app = code_app(main)
    p = start(kernel, app, max_tokens=100)
    status, why = run_code_app(kernel, app, p)
    assert got == [40, 40, 20]  # the last call is cut to what the budget has left
    assert status == 122 and "token quota of 100" in why and kernel.procs.get(p.pid).spent.tokens == 100


def test_kill_stops_a_code_app_at_its_next_syscall(kernel):
    done = []

    def main(sys, task):
        for i in range(1000):
            sys.fs.write(path="n.txt", content=str(i))
            done.append(i)
            if i == 2:  # as `llmos kill PID` would, from the shell
                kernel.call("proc.kill", {"pid": sys.sys.info().pid})

    app = code_app(main)
    p = start(kernel, app)
    status, why = run_code_app(kernel, app, p)
    ended = kernel.procs.get(p.pid)
    assert done == [0, 1, 2] and status == 130 and why.startswith("EINTR")
    assert ended.state == "killed" and ended.exit_status == 130
    last = kernel.journal.tail(1, pid=p.pid)[0]
    assert (last["name"], last["errno"]) == ("fs.write", "EINTR")


def test_a_code_app_that_swallows_its_kill_still_ends_killed(kernel):
    def main(sys, task):
        me = sys.sys.info().pid
        kernel.call("proc.kill", {"pid": me})
        for _ in range(3):
            try:
                sys.fs.write(path="a.txt", content="x")
            except SyscallError as err:
                assert err.code == Errno.EINTR
        return "ignored the kill"

    app = code_app(main)
    p = start(kernel, app)
    status, _ = run_code_app(kernel, app, p)
    assert status == 130 and kernel.procs.get(p.pid).state == "killed"
    assert not (kernel.workspace.parent / "proc" / str(p.pid) / "a.txt").exists()


def test_a_child_is_carved_out_of_its_parent_and_charged_to_it(kernel, scripted):
    parent = kernel.spawn(task="parent", caps=CapSet.parse(["proc.*", "fs.*"]), max_tokens=60, max_steps=10)
    psys = kernel.process_sys(parent.pid)
    child = kernel.procs.get(psys.proc.spawn(task="child", max_tokens=2048, max_steps=100).pid)
    assert (child.quotas.tokens, child.quotas.steps) == (60, 10)  # no more than the parent has left
    scripted.default = render_call("fs.list", {"path": "."})  # a runaway child
    ended = psys.proc.wait(pid=child.pid)
    assert ended.exit_status == 122 and "EDQUOT" in ended.exit_reason
    p = kernel.procs.get(parent.pid)
    c = kernel.procs.get(child.pid)
    assert c.spent.tokens <= 60 and p.spent.tokens == c.spent.tokens and p.spent.steps >= c.spent.steps
    # what the child spent is gone from the parent: a second child gets only the remainder, or nothing
    try:
        second = kernel.procs.get(psys.proc.spawn(task="again", max_tokens=2048).pid)
        assert second.quotas.tokens == 60 - p.spent.tokens
    except SyscallError as err:
        assert err.code == Errno.EDQUOT


def test_a_child_of_a_code_app_cannot_outspend_it(kernel, scripted):
    scripted.default = " ".join(["w"] * 30)

    def main(sys, task):
        kid = sys.proc.spawn(task="talk a lot", max_tokens=65536, max_steps=100, caps=["llm.chat"]).pid
        sys.proc.wait(pid=kid)
        return kid

    app = code_app(main)
    p = start(kernel, app, max_tokens=50)
    status, text = run_code_app(kernel, app, p)
    kid = kernel.procs.get(int(text))
    assert status == 0 and kid.quotas.tokens == 50 and kid.spent.tokens <= 50
    assert kernel.procs.get(p.pid).spent.tokens == kid.spent.tokens


def test_an_llm_process_and_its_syscalls_share_one_budget(kernel, scripted):
    p = kernel.spawn(task="x", caps=CapSet.parse(["fs.*"]), max_bytes=10)
    scripted.queue(render_call("fs.write", {"path": "a", "content": "123456"}),
                   render_call("fs.write", {"path": "b", "content": "123456"}))
    steps = [s.to_dict() for s in kernel.run(p.pid)]
    done = kernel.procs.get(p.pid)
    assert steps[-1]["errno"] == "EDQUOT" and done.spent.bytes == 6 and "write quota of 10 bytes" in done.exit_reason
