"""Processes and the agent loop on the scripted driver: states, grants, quotas, kill, restart, mail."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from llmos.apps.launch import capabilities, launch
from llmos.apps.registry import discover
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.grammar import render_call


def act(call: str, **args) -> str:
    return args["text"] if call == "reply" else render_call(call, args)


READ = CapSet.parse(["fs.read", "fs.list"])


def steps_of(kernel, pid):
    return [s.to_dict() for s in kernel.run(pid)]


def test_a_task_runs_to_a_reply(kernel, scripted):
    p = kernel.spawn(task="what does a.txt say?", caps=READ)
    assert p.state == "ready" and os.path.isdir(p.workspace) and p.workspace != str(kernel.workspace)
    (kernel.procs.get(p.pid).workspace and open(os.path.join(p.workspace, "a.txt"), "w").write("hi there"))
    scripted.queue(act("fs.read", path="a.txt"), act("reply", text="It says hi there."))
    steps = steps_of(kernel, p.pid)
    assert [s["type"] for s in steps] == ["action", "observation", "action", "reply"]
    assert steps[1]["ok"] and steps[1]["result"]["content"] == "hi there"
    assert steps[3]["text"] == "It says hi there."
    done = kernel.procs.get(p.pid)
    assert (done.state, done.exit_status, done.exit_reason, done.reply) == ("exited", 0, "replied", "It says hi there.")
    assert done.spent.steps == 2 and done.spent.tokens > 0
    kinds = [m["kind"] for m in kernel.memory.messages(p.pid)]
    assert kinds == ["task", "action", "observation", "action"]
    # the model saw the observation of its first call in its second prompt
    assert "hi there" in scripted.prompts[-1]
    # only granted calls and reply/exit are offered
    assert "fs.read" in scripted.prompts[0] and "fs.write" not in scripted.prompts[0]


def test_grammar_offers_exactly_the_granted_calls(kernel, scripted):
    p = kernel.spawn(task="x", caps=CapSet.parse(["fs.read", "tool.call:calculator"]))
    scripted.queue(act("calculator", expression="2+3"), act("reply", text="5"))
    steps = steps_of(kernel, p.pid)
    g = scripted.samplings[-1].grammar
    # the granted syscall and the granted tool by its own name (the kernel makes it a tool.call)
    assert '"\\"fs.read\\""' in g and '"\\"calculator\\""' in g and "reply ::=" in g
    assert "fs.write" not in g and "fs.remove" not in g and '"\\"tool.call\\""' not in g
    assert steps[1]["result"] == 5 and steps[-1]["type"] == "reply"
    assert [r["name"] for r in kernel.journal.tail(5, pid=p.pid)] == ["tool.call"]


def test_failed_call_is_an_observation_and_ungranted_is_eacces(kernel, scripted):
    p = kernel.spawn(task="x", caps=READ)
    scripted.queue(act("fs.read", path="missing.txt"), act("fs.write", path="a.txt", content="no"),
                   act("fs.read", path="../../etc/passwd"), act("reply", text="gave up"))
    steps = steps_of(kernel, p.pid)
    obs = [s for s in steps if s["type"] == "observation"]
    assert [o["errno"] for o in obs] == ["ENOENT", "EACCES", "EACCES"]
    assert not os.path.exists(os.path.join(p.workspace, "a.txt"))
    rows = kernel.journal.tail(10, pid=p.pid)
    assert [(r["name"], r["errno"]) for r in rows] == [("fs.read", "ENOENT"), ("fs.write", "EACCES"), ("fs.read", "EACCES")]
    assert "EACCES" in scripted.prompts[-1]


@pytest.mark.parametrize(
    "quota,replies,reason",
    [
        ({"max_steps": 2}, [act("fs.list", path=".")] * 5, "step quota of 2"),
        ({"max_tokens": 10}, [act("fs.stat", path=str(i)) for i in range(5)], "token quota of 10"),
        ({"timeout": 0.0}, [act("fs.list", path=".")], "wall-time quota"),
        ({"max_bytes": 8}, [act("fs.write", path=f"a{i}", content="12345") for i in range(5)], "write quota of 8 bytes"),
    ],
)
def test_each_quota_ends_the_process_with_edquot(kernel, scripted, quota, replies, reason):
    caps = CapSet.parse(["fs.*"])
    p = kernel.spawn(task="loop forever", caps=caps, **quota)
    scripted.queue(*replies)
    steps = steps_of(kernel, p.pid)
    assert steps[-1]["type"] == "exit" and steps[-1]["errno"] == "EDQUOT"
    done = kernel.procs.get(p.pid)
    assert done.state == "exited" and done.exit_status == 122 and reason in done.exit_reason
    if "max_bytes" in quota:
        assert done.spent.bytes <= 8


def test_a_repeated_call_is_not_run_again(kernel, scripted):
    p = kernel.spawn(task="x", caps=READ)
    scripted.queue(act("fs.list", path="."), act("fs.list", path="."), act("reply", text="ok"))
    steps = steps_of(kernel, p.pid)
    obs = [s for s in steps if s["type"] == "observation"]
    assert [o.get("errno") for o in obs] == [None, "EAGAIN"]
    assert len(kernel.journal.tail(10, pid=p.pid)) == 1


def test_after_a_repeated_call_the_model_reads_its_result_again_and_must_answer(kernel, scripted):
    """SmolLM2 repeated one calculator call until its step quota was spent: a repeat is not run,
    the model is shown the same result again, and its next action is decoded reply-only."""
    p = kernel.spawn(task="x", caps=READ)
    scripted.queue(act("fs.list", path="."), act("fs.list", path="."), "It holds nothing.")
    steps = steps_of(kernel, p.pid)
    assert steps[-1]["type"] == "reply" and steps[-1]["text"] == "It holds nothing."
    results = [m["content"] for m in kernel.memory.messages(p.pid) if m["kind"] == "observation"]
    assert len(results) == 2 and results[0] == results[1]  # the same result, shown again
    third = scripted.samplings[2].grammar
    assert "root ::= reply" in third and "call ::=" not in third  # an answer, nothing else


def test_default_quotas_stop_a_runaway_loop(kernel, scripted):
    scripted.default = act("fs.list", path=".")
    p = kernel.spawn(task="loop", caps=READ)
    steps = steps_of(kernel, p.pid)
    assert steps[-1]["errno"] == "EDQUOT" and len([s for s in steps if s["type"] == "action"]) == p.quotas.steps


def test_kill_from_elsewhere_ends_with_eintr(kernel, scripted):
    p = kernel.spawn(task="loop", caps=READ)
    scripted.default = act("fs.list", path=".")
    seen = []
    for step in kernel.run(p.pid):
        seen.append(step)
        if len(seen) == 2:
            kernel.call("proc.kill", {"pid": p.pid})  # as `llmos kill` would, through the table
    assert seen[-1].type == "exit" and seen[-1].errno == "EINTR"
    assert kernel.procs.get(p.pid).state == "killed"
    with pytest.raises(SyscallError) as info:
        kernel.call("proc.kill", {"pid": p.pid})
    assert info.value.code == Errno.EINVAL


def test_kill_a_ready_process_and_unknown_pid(kernel):
    p = kernel.spawn(task="never runs", caps=READ)
    assert kernel.call("proc.kill", {"pid": p.pid}).state == "killed"
    with pytest.raises(SyscallError) as info:
        kernel.call("proc.kill", {"pid": 999})
    assert info.value.code == Errno.ENOENT


def test_restart_marks_orphans_killed(home, scripted):
    code = ("from llmos.kernel import Kernel; from llmos.syscalls.caps import CapSet; "
            "k = Kernel.boot(); p = k.spawn(task='x', caps=CapSet.parse(['fs.read'])); "
            "k.procs.set_state(p.pid, 'running'); print(p.pid)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "LLMOS_HOME": str(home)})
    pid = int(out.stdout)
    with Kernel.boot(driver=scripted) as k:  # the kernel that ran it is gone: a crash
        assert pid in k.recovered
        p = k.procs.get(pid)
        assert (p.state, p.exit_reason) == ("killed", "killed (kernel restart)")


def test_a_live_kernel_elsewhere_is_not_a_crash(kernel, home, scripted):
    p = kernel.spawn(task="x", caps=READ)
    kernel.procs.set_state(p.pid, "running")
    with Kernel.boot(driver=scripted) as other:  # e.g. `llmos ps` in another shell
        assert other.recovered == [] and other.procs.get(p.pid).state == "running"


def test_children_get_a_subset_and_run_on_wait(kernel, scripted):
    parent = kernel.spawn(task="delegate", caps=CapSet.parse(["fs.read", "fs.list", "proc.*"]))
    ctx = kernel.context(pid=parent.pid, caps=parent.capset, workspace=parent.workspace)
    with pytest.raises(SyscallError) as info:
        kernel.call("proc.spawn", {"task": "write", "caps": ["fs.write"]}, ctx=ctx)
    assert info.value.code == Errno.EACCES and "fs.write" in info.value.message
    child = kernel.call("proc.spawn", {"task": "list", "caps": ["fs.list"], "workspace": "parent"}, ctx=ctx).pid
    c = kernel.procs.get(child)
    assert c.parent == parent.pid and c.caps == ["fs.list"] and c.workspace == parent.workspace
    scripted.queue(act("fs.list", path="."), act("reply", text="empty"))
    done = kernel.call("proc.wait", {"pid": child}, ctx=ctx)
    assert (done.state, done.reply) == ("exited", "empty")
    ps = kernel.call("proc.ps", {"all": True}).processes
    assert {p.pid for p in ps} == {parent.pid, child}
    other = kernel.spawn(task="unrelated", caps=READ)
    with pytest.raises(SyscallError) as info:
        kernel.call("proc.wait", {"pid": other.pid}, ctx=ctx)
    assert info.value.code == Errno.EACCES


def test_mailbox_send_recv_across_processes(kernel):
    a = kernel.spawn(task="a", caps=CapSet.parse(["proc.*"]))
    b = kernel.spawn(task="b", caps=CapSet.parse(["proc.*"]))
    ca = kernel.context(pid=a.pid, caps=a.capset)
    cb = kernel.context(pid=b.pid, caps=b.capset)
    kernel.call("proc.send", {"pid": b.pid, "message": "first"}, ctx=ca)
    kernel.call("proc.send", {"pid": b.pid, "message": "second"}, ctx=ca)
    got = kernel.call("proc.recv", {}, ctx=cb)
    assert (got.message, got.sender) == ("first", a.pid)
    assert kernel.call("proc.recv", {}, ctx=cb).message == "second"
    assert kernel.call("proc.recv", {}, ctx=cb).message is None
    assert kernel.call("proc.recv", {}, ctx=ca).message is None  # mailboxes are per process
    kernel.procs.finish(b.pid, "exited", 0, "done")
    with pytest.raises(SyscallError) as info:
        kernel.call("proc.send", {"pid": b.pid, "message": "late"}, ctx=ca)
    assert info.value.code == Errno.ENOENT


def test_proc_exit_from_a_code_app(kernel):
    p = kernel.spawn(task="code", caps=CapSet.parse(["proc.exit"]))
    out = kernel.call("proc.exit", {"status": 7, "reason": "done by code"}, ctx=kernel.context(pid=p.pid, caps=p.capset))
    assert (out.state, out.exit_status, out.exit_reason) == ("exited", 7, "done by code")
    with pytest.raises(SyscallError):
        kernel.call("proc.exit", {})  # the shell (pid 0) is not a process


def test_manifest_intersect_grants(kernel):
    apps, problems = discover(kernel.home)
    agent = apps["agent"]
    assert problems == []
    caps = capabilities(kernel, agent)  # first use: the manifest's default grants are recorded
    assert caps.allows("fs.read", "a") and not caps.allows("fs.remove", "a") and not caps.allows("llm.chat")
    assert kernel.grants.get("agent") == sorted(agent.manifest.default_grants)
    narrowed = capabilities(kernel, agent, ["fs.read:notes/**", "llm.*"])  # llm.* is not in the manifest
    assert narrowed.strings() == ["fs.read:notes/**"]
    p = launch(kernel, "agent", "x", grants=["fs.read"])
    assert p.caps == ["fs.read"]


def test_bad_app_file_is_one_line(kernel):
    folder = kernel.home / "apps"
    folder.mkdir()
    (folder / "bad.py").write_text("from llmos.apps.sdk import App\napp = App({'name': 'Bad Name', 'description': 'x'})\n")
    (folder / "good.py").write_text(
        "from llmos.apps.sdk import App\napp = App({'name': 'jotter', 'description': 'takes notes', "
        "'capabilities': ['fs.read', 'fs.write:notes/**']})\n")
    apps, problems = discover(kernel.home)
    assert "jotter" in apps and len(problems) == 1 and "bad.py" in problems[0] and "\n" not in problems[0]
    assert capabilities(kernel, apps["jotter"]).strings() == []  # asked for, never granted


CODE_APP = '''
from llmos.apps.sdk import App

def main(sys, task):
    sys.fs.write(path="out.txt", content=task.upper())
    return sys.fs.read(path="out.txt").content

app = App({"name": "shout", "description": "writes the task in capitals", "kind": "code",
           "capabilities": ["fs.read", "fs.write", "fs.remove"], "default_grants": ["fs.read", "fs.write"]},
          main=main)
'''


def test_code_app_runs_with_its_grants(capsys, home):
    from llmos.shell.cli import main

    (home / "apps").mkdir(parents=True)
    (home / "apps" / "shout.py").write_text(CODE_APP)
    # a third-party app's default_grants are not honoured: nobody granted it anything
    assert main(["run", "hello", "--app", "shout"]) == 13
    assert "EACCES" in capsys.readouterr().err
    assert main(["run", "hello", "--app", "shout", "--grant", "fs.read", "--grant", "fs.write"]) == 0
    assert capsys.readouterr().out.strip() == "HELLO"
    # with only fs.read granted for this run, the write is refused: one line, errno exit code
    assert main(["run", "hello", "--app", "shout", "--grant", "fs.read"]) == 13
    assert "EACCES" in capsys.readouterr().err
