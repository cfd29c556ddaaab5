"""Process and app commands: run, ps, kill, log, app."""

from __future__ import annotations

import json
import sys
import time

from ..kernel.process import ExitStatus, ProcState
from ..syscalls.errno import Errno, SyscallError


def register(sub, common) -> None:
    p = sub.add_parser("run", parents=[common], help="run a task as a process and show each step")
    p.add_argument("task", help="what to do, in words")
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

    p = sub.add_parser("ps", parents=[common], help="list processes")
    p.add_argument("--all", action="store_true", help="include processes that have ended")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("kill", parents=[common], help="end a process (EINTR)")
    p.add_argument("pid", type=int)

    p = sub.add_parser("log", parents=[common], help="a process's conversation and syscalls")
    p.add_argument("pid", type=int)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("app", parents=[common], help="list apps, grant or revoke capabilities")
    p.add_argument("action", choices=["list", "grant", "revoke"])
    p.add_argument("name", nargs="?", help="app name (grant, revoke)")
    p.add_argument("caps", nargs="*", metavar="CAP", help="capabilities, e.g. fs.read fs.write:out/**")
    p.add_argument("--json", action="store_true")


def _short(value, n: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= n else text[: n - 3] + "..."


def render(step) -> str:
    d = step.to_dict()
    if step.type == "action":
        return f"[{step.step}] {step.call} {_short(step.args, 200)}"
    if step.type == "observation":
        if step.ok:
            return f"    -> ok {_short(step.result)}"
        return f"    -> {step.errno}: {_short(step.message)}"
    if step.type == "reply":
        return f"[{step.step}] reply"
    if step.type == "exit":
        return f"[{step.step}] exit {step.status}: {step.reason}"
    return f"[{step.step}] {d.get('errno', 'error')}: {d.get('message', '')}"


def run(k, ns) -> int:
    from ..apps.launch import launch, run_code_app
    from ..apps.registry import find

    proc = launch(k, ns.app, ns.task, grants=ns.grant, max_steps=ns.max_steps, max_tokens=ns.max_tokens,
                  timeout=ns.timeout, workspace=ns.workspace, tool_choice=ns.tool_choice)
    if not ns.json:
        print(f"process {proc.pid} ({proc.app}) in {proc.workspace}; grants: {', '.join(proc.caps) or 'none'}",
              file=sys.stderr)
    app = find(k.home, ns.app)
    if app.manifest.kind == "code":
        status, text = run_code_app(k, app, proc)
        if ns.json:
            kind = "reply" if status == 0 else "exit"
            print(json.dumps({"type": kind, "pid": proc.pid, "text" if kind == "reply" else "reason": text,
                              "status": status}))
        elif status == 0:
            print(text)
        else:
            print(f"llmos: process {proc.pid} exited: {text}", file=sys.stderr)
        return status
    last = None
    try:
        for step in k.run(proc.pid, temperature=ns.temperature):
            last = step
            if ns.json:
                print(json.dumps(step.to_dict(), ensure_ascii=False), flush=True)
            else:
                print(render(step), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        k.procs.finish(proc.pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "interrupted (Ctrl-C)")
        raise SyscallError(Errno.EINTR, f"process {proc.pid} interrupted; its conversation is kept: llmos log {proc.pid}") from None
    if last is not None and last.type == "reply" and not ns.json:
        print(last.text)
    p = k.procs.get(proc.pid)
    if p.state == ProcState.EXITED and p.exit_status == ExitStatus.OK:
        return 0
    if not ns.json:
        print(f"llmos: process {p.pid} {p.state}: {p.exit_reason}", file=sys.stderr)
    return p.exit_status or 1


def ps(k, ns) -> int:
    procs = k.procs.list(all=ns.all)
    if ns.json:
        print(json.dumps([p.to_dict() for p in procs], indent=2))
        return 0
    if not procs:
        print("no processes" + ("" if ns.all else " running (--all shows ended ones)"))
        return 0
    print(f"{'PID':>5} {'PARENT':>6} {'APP':<8} {'STATE':<8} {'STEPS':>5} {'TOKENS':>6}  {'STARTED':<19}  TASK / END")
    for p in procs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.created))
        end = f"  [{p.exit_status}: {p.exit_reason}]" if p.ended else ""
        print(f"{p.pid:>5} {p.parent:>6} {p.app:<8} {p.state:<8} {p.spent.steps:>5} {p.spent.tokens:>6}  {when}  "
              f"{_short(p.task, 50)}{end}")
    return 0


def kill(k, ns) -> int:
    p = k.call("proc.kill", {"pid": ns.pid})
    print(f"process {p.pid}: {p.state}" + (f" ({p.exit_reason})" if p.exit_reason else " (kill requested)"))
    return 0


def log(k, ns) -> int:
    p = k.procs.get(ns.pid)
    msgs = k.memory.messages(ns.pid)
    calls = k.journal.tail(10_000, pid=ns.pid)
    if ns.json:
        print(json.dumps({"process": p.to_dict(), "messages": msgs, "journal": calls}, indent=2, ensure_ascii=False))
        return 0
    print(f"process {p.pid} ({p.app}) {p.state}" + (f" [{p.exit_status}: {p.exit_reason}]" if p.ended else ""))
    print(f"grants: {', '.join(p.caps) or 'none'}   workspace: {p.workspace}")
    print(f"spent: {p.spent.steps}/{p.quotas.steps} steps, {p.spent.tokens}/{p.quotas.tokens} tokens, "
          f"{p.spent.seconds:.1f}/{p.quotas.seconds:g} s, {p.spent.bytes} bytes written")
    for m in msgs:
        print(f"  {m['kind']:<11} {_short(m['content'], 200)}")
    if calls:
        print("syscalls:")
        for c in calls:
            print(f"  {c['name']:<12} {'ok' if c['ok'] else c['errno']:<8} {_short(c['args'], 100)}")
    if p.reply:
        print(f"reply: {p.reply}")
    return 0


def app(k, ns) -> int:
    from ..apps.registry import discover, find

    if ns.action == "list":
        apps, problems = discover(k.home)
        rows = [{"name": a.name, "description": a.manifest.description, "kind": a.manifest.kind,
                 "asks": a.manifest.capabilities, "granted": k.grants.get(a.name)} for a in apps.values()]
        if ns.json:
            print(json.dumps({"apps": rows, "problems": problems}, indent=2))
            return 0
        for r in rows:
            granted = "not yet asked (defaults on first run)" if r["granted"] is None else ", ".join(r["granted"]) or "nothing"
            print(f"{r['name']:<10} {r['description']}\n{'':<10} asks: {', '.join(r['asks'])}\n{'':<10} granted: {granted}")
        for line in problems:
            print(f"llmos: EINVAL: {line}", file=sys.stderr)
        return 0
    if not ns.name:
        raise SyscallError(Errno.EINVAL, f"name the app: llmos app {ns.action} NAME CAP...")
    target = find(k.home, ns.name)
    if ns.action == "grant":
        from ..syscalls.caps import CapSet

        asked = CapSet.parse(target.manifest.capabilities)
        beyond = [c for c in ns.caps if not asked.covers(CapSet.parse([c]).caps[0])]
        if beyond:
            raise SyscallError(Errno.EACCES, f"{ns.name} does not ask for {', '.join(beyond)}; it asks for "
                               f"{', '.join(target.manifest.capabilities)}")
        now = k.grants.grant(ns.name, ns.caps)
    else:
        now = k.grants.revoke(ns.name, ns.caps or None)
    print(f"{ns.name} granted: {', '.join(now) or 'nothing'}")
    return 0


COMMANDS = {"run": run, "ps": ps, "kill": kill, "log": log, "app": app}
