"""Core commands: call, syscalls, journal, model, shell."""

from __future__ import annotations

import json
import sys
import time

from .registry import command
from .render import short


def _call_args(p) -> None:
    p.add_argument("name", help="syscall name, e.g. fs.read (see `llmos syscalls`)")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="arguments; values that parse as JSON are JSON")
    p.add_argument("--args-json", metavar="JSON", help="arguments as a JSON object, or - to read it from stdin")
    p.add_argument("--no-stream", action="store_true", help="do not echo generated text as it comes")


@command("call", "make one syscall; prints the result as JSON", args=_call_args,
         usage="NAME key=value ...")
def call(env, ns) -> int:
    from .args import parse_json_object, parse_pairs

    args = parse_pairs(ns.pairs)
    if ns.args_json is not None:
        text = sys.stdin.read() if ns.args_json == "-" else ns.args_json
        args = {**parse_json_object(text), **args}
    streamed = []

    def stream(text: str) -> None:
        streamed.append(text)
        if env.repl is not None:
            env.out.write(text)
        else:
            sys.stderr.write(text)
            sys.stderr.flush()

    try:
        result = env.k.call(ns.name, args, stream=None if ns.no_stream else stream)
    finally:
        if streamed:
            (env.out.write if env.repl is not None else sys.stderr.write)("\n")
    env.out.json(result)
    return 0


def _syscalls_args(p) -> None:
    p.add_argument("family", nargs="?", help="only this family (fs) or syscall (fs.read)")
    p.add_argument("--json", action="store_true", help="the table with JSON Schemas")
    p.add_argument("--pyi", action="store_true", help="Python type stubs for Kernel.sys")


def arg_words(spec) -> str:
    return " ".join(f"{n}=" if f.is_required() else f"[{n}=]" for n, f in spec.args.model_fields.items())


@command("syscalls", "list the syscall table (or one family, with its arguments)", args=_syscalls_args,
         usage="[FAMILY]")
def syscalls(env, ns) -> int:
    from ..kernel.stubs import pyi
    from ..syscalls.table import TABLE

    specs = sorted(TABLE.values(), key=lambda s: s.name)
    if ns.family:
        specs = [s for s in specs if ns.family in (s.family, s.name)]
        if not specs:
            from ..syscalls.dispatch import unknown

            raise unknown(ns.family, TABLE)
    if ns.pyi:
        env.out.write(pyi({s.name: s for s in specs}))
    elif ns.json:
        env.out.line(json.dumps([s.describe() for s in specs], indent=2))
    elif ns.family:
        env.out.table(["SYSCALL", "ARGS", "WHAT"], [[s.name, arg_words(s), s.doc] for s in specs])
    else:
        env.out.table(["SYSCALL", "WHAT"], [[s.name, s.doc] for s in specs])
    return 0


def _journal_args(p) -> None:
    p.add_argument("--tail", type=int, default=20, metavar="N", help="last N calls (default 20)")
    p.add_argument("--pid", type=int, help="only this process")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


@command("journal", "show the syscall journal", args=_journal_args)
def journal(env, ns) -> int:
    rows = env.k.journal.tail(ns.tail, pid=ns.pid)
    if ns.json:
        for r in rows:
            env.out.line(json.dumps(r, ensure_ascii=False))
        return 0
    table = []
    for r in rows:
        toks = f"{r['tokens_in']}/{r['tokens_out']}" if r["tokens_in"] or r["tokens_out"] else ""
        table.append([r["id"], time.strftime("%H:%M:%S", time.localtime(r["ts"])), r["pid"], r["name"],
                      "ok" if r["ok"] else r["errno"], f"{r['duration_ms']:.1f}", toks, short(r["args"], 60)])
    env.out.table(["ID", "TIME", "PID", "SYSCALL", "RESULT", "MS", "TOKENS", "ARGS"], table,
                  right=("ID", "PID", "MS", "TOKENS"))
    return 0


def _model_args(p) -> None:
    p.add_argument("action", choices=["list", "info", "prepare"])
    p.add_argument("spec", nargs="?", help="model spec (default: --model, else default)")
    p.add_argument("--json", action="store_true")


def model_info(env, spec: str, as_json: bool = False) -> None:
    from ..drivers.cards import card

    k = env.k
    if spec != k.model_spec:
        k.models.resolve(spec)  # an unknown spec is one clear line, before anything changes
        k.use_model(spec)
    data = {**k.driver().info.__dict__, "card": card(spec).name, "chat_sampling": card(spec).sampling}
    if as_json:
        env.out.line(json.dumps(data, indent=2))
    else:
        env.out.table(["KEY", "VALUE"], [[key, value] for key, value in data.items()])


@command("model", "list, inspect or prepare models", args=_model_args, where=("cli",))
def model(env, ns) -> int:
    k = env.k
    spec = ns.spec or k.model_spec
    if ns.action == "list":
        entries = k.models.entries()
        if ns.json:
            env.out.line(json.dumps([{**e.__dict__, "path": str(e.path) if e.path else None} for e in entries],
                                    indent=2))
            return 0
        rows = []
        for e in entries:
            size = f"{e.path.stat().st_size / 1e6:.0f} MB" if e.path and e.path.exists() else "-"
            rows.append(["*" if e.spec == k.model_spec else "", e.spec, size, e.chat_format,
                         f"{e.description}\n{e.source}: {e.path}"])
        env.out.table(["", "SPEC", "SIZE", "FORMAT", "WHAT"], rows, right=("SIZE",))
        return 0
    if ns.action == "prepare":
        path = k.models.resolve(spec, k.progress) if spec.startswith("hf:") else k.models.weights(spec, k.progress)[0]
        env.out.line(f"{spec}: ready at {path}")
        tuned = k.agent_spec if spec == k.model_spec else k.models.agent_spec(spec)  # LLMOS_AGENT_MODEL too
        if tuned != spec:  # what its processes decode with (`default`: llmos's adapter folded in)
            env.out.line(f"{tuned}: ready at {k.models.weights(tuned, k.progress)[0]} (its processes run on it)")
        return 0
    model_info(env, spec, ns.json)
    return 0


@command("model", "show the model, or switch to SPEC (default, gemma-3-270m, a .gguf path)",
         args=lambda p: p.add_argument("spec", nargs="?"), where=("repl",), usage="[SPEC]")
def model_repl(env, ns) -> int:
    k = env.k
    if ns.spec is None:
        state = "loaded" if k.info()["model_loaded"] else "loading"
        env.out.line(f"model {k.model_spec} ({state}); chat sampling {env.repl.chat.sampling}")
        return 0
    k.models.resolve(ns.spec)
    k.use_model(ns.spec)
    env.repl.new_chat()
    env.out.line(f"switched to {ns.spec}; it loads on first use; a new conversation starts")
    return 0


@command("shell", "the interactive shell (the default; reads lines from a pipe)", where=("cli",))
def shell(env, ns) -> int:
    from .repl import Repl

    return Repl(env).run()
