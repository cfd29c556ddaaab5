"""The `llmos` command: subcommands for scripts, the REPL when given none."""

from __future__ import annotations

import argparse
import json
import sys

from ..syscalls.errno import Errno, SyscallError
from .render import ProgressBar, print_error, to_json

# Command groups in their own modules (shell/cmd_*.py). Each defines
#   register(sub, common)  -- add its subparsers (pass parents=[common] for --model/--gpu-layers)
#   COMMANDS: dict[str, Callable[[Kernel, Namespace], int]]  -- handlers by subcommand name
GROUPS = ("cmd_proc", "cmd_mem", "cmd_sched", "cmd_tool", "cmd_serve", "cmd_mcp")


def _groups():
    import importlib

    return [importlib.import_module(f"llmos.shell.{name}") for name in GROUPS]


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--model", default=d, metavar="SPEC",
                   help="default, gemma-3-270m, a path to a .gguf, or openai:http://HOST:PORT/v1[#MODEL] "
                        "(env LLMOS_MODEL)")
    p.add_argument("--gpu-layers", type=int, default=d, metavar="N",
                   help="layers to offload to a GPU (llama.cpp builds with GPU support)")
    p.add_argument("--slots", type=int, default=d, metavar="N",
                   help="sequence slots: processes decoding at once (env LLMOS_SLOTS; default 4, batch 16)")
    p.add_argument("--ctx", type=int, default=d, metavar="TOKENS",
                   help="KV tokens per slot, a process's context window (env LLMOS_CTX; default 4096, batch 2048)")


def build_parser() -> argparse.ArgumentParser:
    from ..kernel.kernel import llmos_version

    parser = argparse.ArgumentParser(prog="llmos", description="An operating system whose kernel is a language model.")
    parser.add_argument("--version", action="version", version=f"llmos {llmos_version()}")
    _common(parser, suppress=False)
    parser.add_argument("--api-key", metavar="KEY", help="the key of an openai: engine (env OPENAI_API_KEY)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)

    p = sub.add_parser("call", parents=[common], help="make one syscall; prints the result as JSON")
    p.add_argument("name", help="syscall name, e.g. fs.read (see `llmos syscalls`)")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="arguments; values that parse as JSON are JSON")
    p.add_argument("--args-json", metavar="JSON", help="arguments as a JSON object, or - to read it from stdin")
    p.add_argument("--no-stream", action="store_true", help="do not echo generated text to stderr as it comes")

    p = sub.add_parser("syscalls", parents=[common], help="list the syscall table")
    p.add_argument("family", nargs="?", help="only this family (fs) or syscall (fs.read)")
    p.add_argument("--json", action="store_true", help="the table with JSON Schemas")
    p.add_argument("--pyi", action="store_true", help="Python type stubs for Kernel.sys")

    p = sub.add_parser("journal", parents=[common], help="show the syscall journal")
    p.add_argument("--tail", type=int, default=20, metavar="N", help="last N calls (default 20)")
    p.add_argument("--pid", type=int, help="only this process")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("model", parents=[common], help="list, inspect or prepare models")
    p.add_argument("action", choices=["list", "info", "prepare"])
    p.add_argument("spec", nargs="?", help="model spec (default: --model, else default)")
    p.add_argument("--json", action="store_true")

    sub.add_parser("shell", parents=[common], help="the interactive shell (the default)")
    for group in _groups():
        group.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    bar = ProgressBar()
    try:
        return _run(ns, bar)
    except SyscallError as err:
        bar.close()
        print_error(err)
        return err.code.exit_code
    except KeyboardInterrupt:
        bar.close()
        print_error(SyscallError(Errno.EINTR, "interrupted"))
        return Errno.EINTR.exit_code
    except BrokenPipeError:
        return 0
    finally:
        bar.close()


def _boot(ns, bar: ProgressBar):
    from ..apps.registry import install_tools
    from ..kernel.kernel import Kernel

    k = Kernel.boot(model=ns.model, gpu_layers=ns.gpu_layers, slots=ns.slots, slot_ctx=ns.ctx,
                    api_key=getattr(ns, "api_key", None))
    k.progress = bar
    k.app_problems = install_tools(k)  # every app's tools, so `tool list` and tool.call reach them
    return k


def _run(ns, bar: ProgressBar) -> int:
    cmd = ns.command or "shell"
    if cmd == "shell":
        from .repl import Repl

        with _boot(ns, bar) as k:
            return Repl(k).run()
    if cmd == "syscalls":
        return _syscalls(ns)
    for group in _groups():
        if cmd in group.COMMANDS:
            with _boot(ns, bar) as k:
                return group.COMMANDS[cmd](k, ns)
    with _boot(ns, bar) as k:
        if cmd == "call":
            return _call(k, ns, bar)
        if cmd == "journal":
            return _journal(k, ns)
        if cmd == "model":
            return _model(k, ns)
    raise SyscallError(Errno.ENOSYS, f"unknown command {cmd}")


def _call(k, ns, bar: ProgressBar) -> int:
    from .args import parse_json_object, parse_pairs

    args = parse_pairs(ns.pairs)
    if ns.args_json is not None:
        text = sys.stdin.read() if ns.args_json == "-" else ns.args_json
        args = {**parse_json_object(text), **args}
    streamed = []

    def stream(text: str) -> None:
        if not streamed:
            bar.close()
        streamed.append(text)
        sys.stderr.write(text)
        sys.stderr.flush()

    result = k.call(ns.name, args, stream=None if ns.no_stream else stream)
    if streamed:
        sys.stderr.write("\n")
    print(to_json(result))
    return 0


def _syscalls(ns) -> int:
    from ..kernel.stubs import pyi
    from ..syscalls.table import TABLE

    specs = sorted(TABLE.values(), key=lambda s: s.name)
    if ns.family:
        specs = [s for s in specs if ns.family in (s.family, s.name)]
        if not specs:
            from ..syscalls.dispatch import unknown

            raise unknown(ns.family, TABLE)
    if ns.pyi:
        print(pyi({s.name: s for s in specs}), end="")
    elif ns.json:
        print(json.dumps([s.describe() for s in specs], indent=2))
    else:
        width = max(len(s.name) for s in specs)
        for s in specs:
            fields = " ".join(
                f"{n}=" if f.is_required() else f"[{n}=]" for n, f in s.args.model_fields.items()
            )
            print(f"{s.name:<{width}}  {s.doc}")
            if ns.family and fields:
                print(f"{'':<{width}}  args: {fields}")
    return 0


def _journal(k, ns) -> int:
    rows = k.journal.tail(ns.tail, pid=ns.pid)
    if ns.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    import time

    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["ts"]))
        outcome = "ok" if r["ok"] else r["errno"]
        toks = f" tokens {r['tokens_in']}/{r['tokens_out']}" if r["tokens_in"] or r["tokens_out"] else ""
        args = json.dumps(r["args"], ensure_ascii=False)
        if len(args) > 60:
            args = args[:57] + "..."
        print(f"{r['id']:>6} {when} pid {r['pid']:<4} {r['name']:<14} {outcome:<9} {r['duration_ms']:>9.1f} ms{toks}  {args}")
    return 0


def _model(k, ns) -> int:
    spec = ns.spec or k.model_spec
    if ns.action == "list":
        entries = k.models.entries()
        if ns.json:
            print(json.dumps([{**e.__dict__, "path": str(e.path) if e.path else None} for e in entries], indent=2))
            return 0
        for e in entries:
            mark = "*" if e.spec == k.model_spec else " "
            size = f"{e.path.stat().st_size / 1e6:.0f} MB" if e.path and e.path.exists() else "-"
            print(f"{mark} {e.spec:<14} {size:>7}  {e.chat_format:<7} {e.description}\n  {'':<14} {e.source}: {e.path}")
        return 0
    if ns.action == "prepare":
        path = k.models.resolve(spec, k.progress)
        print(f"{spec}: ready at {path}")
        return 0
    k.model_spec = spec
    info = k.driver().info
    data = {**info.__dict__}
    if ns.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:<12} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
