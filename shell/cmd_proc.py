"""Process commands: run, ps, kill, log (the app commands are in cmd_app.py)."""

from __future__ import annotations

import json
import time

from ..kernel.process import ExitStatus, ProcState
from ..syscalls.errno import Errno, SyscallError
from .registry import command
from .render import call_line, short


def render(step) -> str:
    """One agent-loop step, compactly: calls, their results, the end."""
    d = step.to_dict()
    if step.type == "action":
        return call_line(step.call, step.args)
    if step.type == "observation":
        return f"    = ok {short(step.result)}" if step.ok else f"    = {step.errno}: {short(step.message)}"
    if step.type == "reply":
        return f"  [{step.step}] reply"
    if step.type == "exit":
        return f"  [{step.step}] exit {step.status}: {step.reason}"
    return f"  [{step.step}] {d.get('errno', 'error')}: {d.get('message', '')}"


def _run_args(p) -> None:
    p.add_argument("task", nargs="+", help="what to do, in words (in the REPL, end with & to run it in the background)")
    p.add_argument("--app", default="agent", help="the app to run it (default: agent)")
    p.add_argument("--grant", action="append", metavar="CAP",
                   help="grant exactly these capabilities for this run (repeatable), e.g. fs.read")
    p.add_argument("--max-steps", type=int, metavar="N", help="action budget")
    p.add_argument("--max-tokens", type=int, metavar="N", help="generated-token budget")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-time budget in seconds")
    p.add_argument("--workspace", metavar="DIR", help="work in DIR instead of a fresh folder")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    p.add_argument("--tool-choice", default="auto", metavar="CHOICE",
                   help="auto (call or answer), required (call first), none (answer only), or a tool's name")
    p.add_argument("--json", action="store_true", help="print each step as one JSON object per line")


@command("run", "run a task as a process and show each step (TASK & in the REPL: in the background)",
         args=_run_args, usage="TASK [&]")
def run(env, ns) -> int:
    from ..apps.launch import launch
    from ..apps.registry import find

    words = list(ns.task)
    background = env.repl is not None and words[-1] == "&"
    if background:
        words.pop()
    elif env.repl is not None and words[-1].endswith("&"):
        words[-1], background = words[-1][:-1], True
    task = " ".join(words).strip()
    if not task:
        raise SyscallError(Errno.EINVAL, "say what to do, e.g. /run list the files in my workspace")
    k, out = env.k, env.out
    app = find(k.home, ns.app)
    if ns.grant is None:  # a third-party app's first run asks (on a terminal) what to grant
        from .cmd_app import settle

        settle(env, app, None, False)
    proc = launch(k, ns.app, task, grants=ns.grant, max_steps=ns.max_steps, max_tokens=ns.max_tokens,
                  timeout=ns.timeout, workspace=ns.workspace, tool_choice=getattr(ns, "tool_choice", "auto"))
    if background:
        env.repl.background(proc.pid, temperature=ns.temperature)
        out.line(f"[{proc.pid}] {proc.app} running in the background; /ps lists it, /log {proc.pid} shows it")
        return 0
    if not ns.json:
        out.note(f"process {proc.pid} ({proc.app}) in {proc.workspace}; grants: {', '.join(proc.caps) or 'none'}")
    return drive(env, proc, app, as_json=ns.json, temperature=ns.temperature)


def drive(env, proc, app, *, as_json: bool = False, temperature: float = 0.0) -> int:
    """Run process `proc` of `app` to its end in the foreground, printing its reply (or, with
    `as_json`, JSON lines); its exit status."""
    from ..apps.launch import run_code_app

    k, out = env.k, env.out
    if app.manifest.kind == "code":
        try:
            status, text = run_code_app(k, app, proc)
        except KeyboardInterrupt:
            k.procs.finish(proc.pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "interrupted (Ctrl-C)")
            raise SyscallError(Errno.EINTR, f"process {proc.pid} interrupted") from None
        if as_json:
            kind = "reply" if status == 0 else "exit"
            out.line(json.dumps({"type": kind, "pid": proc.pid, "text" if kind == "reply" else "reason": text,
                                 "status": int(status)}, ensure_ascii=False))
        elif status == 0:
            out.line(text)
        else:
            out.note(f"llmos: process {proc.pid} exited: {text}")
        return int(status)
    last = None
    try:
        for step in k.run(proc.pid, temperature=temperature):
            last = step
            if as_json:
                out.line(json.dumps(step.to_dict(), ensure_ascii=False))
            else:
                out.note(render(step))
    except KeyboardInterrupt:
        k.procs.finish(proc.pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "interrupted (Ctrl-C)")
        raise SyscallError(Errno.EINTR, f"process {proc.pid} interrupted; its conversation is kept: llmos log {proc.pid}") from None
    if last is not None and last.type == "reply" and not as_json:
        out.line(last.text)
    p = k.procs.get(proc.pid)
    if p.state == ProcState.EXITED and p.exit_status == ExitStatus.OK:
        return 0
    if not as_json:
        out.note(f"llmos: process {p.pid} {p.state}: {p.exit_reason}")
    return p.exit_status or 1


def _ps_args(p) -> None:
    p.add_argument("--all", action="store_true", help="include processes that have ended")
    p.add_argument("--json", action="store_true")


@command("ps", "list processes (--all: with the ended ones)", args=_ps_args, usage="[--all]")
def ps(env, ns) -> int:
    procs = env.k.procs.list(all=ns.all)
    if ns.json:
        env.out.line(json.dumps([p.to_dict() for p in procs], indent=2))
        return 0
    if not procs:
        env.out.line("no processes" + ("" if ns.all else " running (--all shows ended ones)"))
        return 0
    rows = [[p.pid, p.parent, p.app, p.state, p.spent.steps, p.spent.tokens,
             time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.created)),
             short(p.task, 50) + (f" [{p.exit_status}: {p.exit_reason}]" if p.ended else "")] for p in procs]
    env.out.table(["PID", "PARENT", "APP", "STATE", "STEPS", "TOKENS", "STARTED", "TASK / END"], rows,
                  right=("PID", "PARENT", "STEPS", "TOKENS"))
    return 0


@command("kill", "end a process (it sees EINTR)", args=lambda p: p.add_argument("pid", type=int), usage="PID")
def kill(env, ns) -> int:
    p = env.k.call("proc.kill", {"pid": ns.pid})
    env.out.line(f"process {p.pid}: {p.state}" + (f" ({p.exit_reason})" if p.exit_reason else " (kill requested)"))
    return 0


def _log_args(p) -> None:
    p.add_argument("pid", type=int)
    p.add_argument("--rate", choices=["good", "bad"],
                   help="mark this trace good (llmos learn export takes it) or bad (it never does)")
    p.add_argument("--json", action="store_true")


@command("log", "a process's conversation and syscalls; --rate good|bad marks it for learning", args=_log_args,
         usage="PID [--rate good|bad]")
def log(env, ns) -> int:
    k, out = env.k, env.out
    p = k.procs.get(ns.pid)
    if ns.rate:
        from ..kernel.learn.export import rate

        rate(k, ns.pid, ns.rate)
        out.line(f"process {ns.pid} rated {ns.rate}")
        return 0
    msgs = k.memory.messages(ns.pid)
    calls = k.journal.tail(10_000, pid=ns.pid)
    if ns.json:
        out.line(json.dumps({"process": p.to_dict(), "messages": msgs, "journal": calls}, indent=2, ensure_ascii=False))
        return 0
    out.line(f"process {p.pid} ({p.app}) {p.state}" + (f" [{p.exit_status}: {p.exit_reason}]" if p.ended else ""))
    out.line(f"grants: {', '.join(p.caps) or 'none'}   workspace: {p.workspace}")
    out.line(f"spent: {p.spent.steps}/{p.quotas.steps} steps, {p.spent.tokens}/{p.quotas.tokens} tokens, "
             f"{p.spent.seconds:.1f}/{p.quotas.seconds:g} s, {p.spent.bytes} bytes written")
    out.table(["KIND", "CONTENT"], [[m["kind"], short(m["content"], 200)] for m in msgs])
    if calls:
        out.table(["SYSCALL", "RESULT", "ARGS"], [[c["name"], "ok" if c["ok"] else c["errno"], short(c["args"], 100)]
                                                  for c in calls])
    if p.reply:
        out.line(f"reply: {p.reply}")
    return 0
