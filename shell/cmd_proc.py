"""Process and app commands: run, ps, kill, log, app (and the REPL's /apps, /app NAME TASK)."""

from __future__ import annotations

import json
import time

from ..kernel.process import ExitStatus, ProcState
from ..syscalls.errno import Errno, SyscallError
from .registry import command
from .render import short


def render(step) -> str:
    """One agent-loop step, compactly: calls, their results, the end."""
    d = step.to_dict()
    if step.type == "action":
        return f"  ↳ {step.call} {short(step.args, 200)}"
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
    from ..apps.launch import launch, run_code_app
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
    proc = launch(k, ns.app, task, grants=ns.grant, max_steps=ns.max_steps, max_tokens=ns.max_tokens,
                  timeout=ns.timeout, workspace=ns.workspace, tool_choice=getattr(ns, "tool_choice", "auto"))
    if background:
        env.repl.background(proc.pid, temperature=ns.temperature)
        out.line(f"[{proc.pid}] {proc.app} running in the background; /ps lists it, /log {proc.pid} shows it")
        return 0
    if not ns.json:
        out.note(f"process {proc.pid} ({proc.app}) in {proc.workspace}; grants: {', '.join(proc.caps) or 'none'}")
    app = find(k.home, ns.app)
    if app.manifest.kind == "code":
        status, text = run_code_app(k, app, proc)
        if ns.json:
            kind = "reply" if status == 0 else "exit"
            out.line(json.dumps({"type": kind, "pid": proc.pid, "text" if kind == "reply" else "reason": text,
                                 "status": status}))
        elif status == 0:
            out.line(text)
        else:
            out.note(f"llmos: process {proc.pid} exited: {text}")
        return status
    last = None
    try:
        for step in k.run(proc.pid, temperature=ns.temperature):
            last = step
            if ns.json:
                out.line(json.dumps(step.to_dict(), ensure_ascii=False))
            else:
                out.note(render(step))
    except KeyboardInterrupt:
        k.procs.finish(proc.pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "interrupted (Ctrl-C)")
        raise SyscallError(Errno.EINTR, f"process {proc.pid} interrupted; its conversation is kept: llmos log {proc.pid}") from None
    if last is not None and last.type == "reply" and not ns.json:
        out.line(last.text)
    p = k.procs.get(proc.pid)
    if p.state == ProcState.EXITED and p.exit_status == ExitStatus.OK:
        return 0
    if not ns.json:
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


def _app_args(p) -> None:
    p.add_argument("action", choices=["list", "grant", "revoke"])
    p.add_argument("name", nargs="?", help="app name (grant, revoke)")
    p.add_argument("caps", nargs="*", metavar="CAP", help="capabilities, e.g. fs.read fs.write:out/**")
    p.add_argument("--json", action="store_true")


def list_apps(env, as_json: bool = False) -> int:
    from ..apps.registry import discover

    k = env.k
    apps, problems = discover(k.home)
    rows = [{"name": a.name, "description": a.manifest.description, "kind": a.manifest.kind,
             "asks": a.manifest.capabilities, "granted": k.grants.get(a.name)} for a in apps.values()]
    if as_json:
        env.out.line(json.dumps({"apps": rows, "problems": problems}, indent=2))
        return 0
    env.out.table(["APP", "WHAT", "ASKS", "GRANTED"], [
        [r["name"], r["description"], ", ".join(r["asks"]),
         "not yet asked (defaults on first run)" if r["granted"] is None else ", ".join(r["granted"]) or "nothing"]
        for r in rows])
    for line in problems:
        env.out.note(f"llmos: EINVAL: {line}")
    return 0


@command("app", "list apps, grant or revoke capabilities", args=_app_args, where=("cli",))
def app(env, ns) -> int:
    from ..apps.registry import find
    from ..syscalls.caps import CapSet

    if ns.action == "list":
        return list_apps(env, ns.json)
    if not ns.name:
        raise SyscallError(Errno.EINVAL, f"name the app: llmos app {ns.action} NAME CAP...")
    k = env.k
    target = find(k.home, ns.name)
    try:
        wanted = CapSet.parse(ns.caps).caps
    except ValueError as exc:
        raise SyscallError(Errno.EINVAL, f"{exc}; capabilities are lower case") from None
    if ns.action == "grant":
        asked = CapSet.parse(target.manifest.capabilities)
        beyond = [c for c, cap in zip(ns.caps, wanted, strict=True) if not asked.covers(cap)]
        if beyond:
            raise SyscallError(Errno.EACCES, f"{ns.name} does not ask for {', '.join(beyond)}; it asks for "
                               f"{', '.join(target.manifest.capabilities)}")
        now = k.grants.grant(ns.name, ns.caps)
    else:
        now = k.grants.revoke(ns.name, ns.caps or None)
    env.out.line(f"{ns.name} granted: {', '.join(now) or 'nothing'}")
    return 0


@command("apps", "list the installed apps and their grants", where=("repl",))
def apps(env, ns) -> int:
    return list_apps(env)


def _app_run_args(p) -> None:
    p.add_argument("name", help="the app")
    p.add_argument("task", nargs="*", help="what to ask it (end with & to run it in the background)")


@command("app", "run app NAME on TASK, e.g. /app agent list my files", args=_app_run_args, where=("repl",),
         usage="NAME TASK [&]")
def app_run(env, ns) -> int:
    import argparse

    sub = argparse.Namespace(task=ns.task or [""], app=ns.name, grant=None, max_steps=None, max_tokens=None,
                             timeout=None, workspace=None, temperature=0.0, json=False)
    return run(env, sub)
