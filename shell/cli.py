"""The `llmos` command: subcommands from the command registry, the REPL when given none.

Every command lives in a shell/cmd_*.py module (shell/registry.py); this file builds the
argument parser from the registry and runs a command inside the one error boundary.
"""

from __future__ import annotations

import argparse
import sys

from ..syscalls.errno import Errno
from .boundary import explain
from .env import Env
from .registry import for_
from .render import Out, ProgressBar


class Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line and EINVAL, like every other mistake."""

    def error(self, message: str):
        print(f"llmos: EINVAL: {message}; `{self.prog} --help` shows the usage", file=sys.stderr)
        raise SystemExit(Errno.EINVAL.exit_code)


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--model", default=d, metavar="SPEC",
                   help="default, gemma-3-270m, or a path to a .gguf (env LLMOS_MODEL)")
    p.add_argument("--gpu-layers", type=int, default=d, metavar="N",
                   help="layers to offload to a GPU (llama.cpp builds with GPU support)")
    p.add_argument("--slots", type=int, default=d, metavar="N",
                   help="sequence slots: processes decoding at once (env LLMOS_SLOTS; default 4, batch 16)")
    p.add_argument("--ctx", type=int, default=d, metavar="TOKENS",
                   help="KV tokens per slot, a process's context window (env LLMOS_CTX; default 4096, batch 2048)")


def build_parser() -> argparse.ArgumentParser:
    from ..kernel.kernel import llmos_version

    parser = Parser(prog="llmos", description="An operating system whose kernel is a language model. "
                    "With no command: the interactive shell (or, with stdin from a pipe, run its lines).")
    parser.add_argument("--version", action="version", version=f"llmos {llmos_version()}")
    _common(parser, suppress=False)
    parser.add_argument("--api-key", metavar="KEY", help="the key of an openai: engine (env OPENAI_API_KEY)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)
    for cmd in for_("cli").values():
        p = sub.add_parser(cmd.name, parents=[common], help=cmd.help, description=cmd.help)
        if cmd.args:
            cmd.args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    bar = ProgressBar()
    env = Env(lambda: _boot(ns, bar), Out())
    try:
        name = ns.command or "shell"
        return for_("cli")[name].run(env, ns)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one boundary: a line, never a traceback
        bar.close()
        line, code = explain(exc)
        print(line, file=sys.stderr)
        return code
    except KeyboardInterrupt as exc:
        bar.close()
        line, code = explain(exc)
        print(line, file=sys.stderr)
        return code
    finally:
        bar.close()
        try:
            env.close()
        except Exception:  # noqa: BLE001 - closing must not hide what happened
            pass


def _boot(ns, bar: ProgressBar):
    from ..apps.registry import install_tools
    from ..kernel.kernel import Kernel

    k = Kernel.boot(model=ns.model, gpu_layers=ns.gpu_layers, slots=ns.slots, slot_ctx=ns.ctx,
                    api_key=getattr(ns, "api_key", None))
    k.progress = bar
    k.app_problems = install_tools(k)  # every app's tools, so `tool list` and tool.call reach them
    return k


if __name__ == "__main__":
    sys.exit(main())
