"""Commands only the REPL has: help, the chat's settings, history, reset, tools, quit."""

from __future__ import annotations

from ..syscalls.errno import Errno, SyscallError
from .registry import command, for_, repl_parser

REPL = ("repl",)


@command("help", "this list, or one command's usage", args=lambda p: p.add_argument("cmd", nargs="?"),
         where=REPL, usage="[CMD]")
def help_(env, ns) -> int:
    cmds = for_("repl")
    if ns.cmd:
        name = ns.cmd.lstrip("/")
        if name not in cmds:
            raise SyscallError(Errno.ENOENT, f"no command /{name}; /help lists them")
        env.out.write(repl_parser(cmds[name]).format_help())
        return 0
    env.out.line("Type a message to chat with the model. Commands (/help CMD for one's usage):")
    env.out.table(["COMMAND", "WHAT"], [[f"/{c.name} {c.usage}".rstrip(), c.help] for c in cmds.values()])
    env.out.line("Ctrl-C stops a generation and keeps the session; Ctrl-D or /quit leaves. "
                 "Alt-Enter starts a new line.")
    return 0


def _set_args(p) -> None:
    p.add_argument("key", nargs="?", help="a sampling field: temperature, top_p, top_k, max_tokens, seed, stop")
    p.add_argument("value", nargs="?", help="its value (JSON: numbers, lists); omit both to show them all")


@command("set", "show the chat's sampling, or set one field for this session", args=_set_args, where=REPL,
         usage="[KEY VALUE]")
def set_(env, ns) -> int:
    from .args import parse_value

    chat = env.repl.chat
    if ns.key is None:
        env.out.table(["SETTING", "VALUE", "FROM"], [[key, value, "you" if key in chat.overrides else chat.card.name]
                                                     for key, value in chat.sampling.items()])
        return 0
    if ns.value is None:
        raise SyscallError(Errno.EINVAL, f"give {ns.key} a value, e.g. /set {ns.key} 0.7")
    chat.set(ns.key, parse_value(ns.value))
    env.out.line(f"{ns.key} = {chat.sampling[ns.key]!r} for this session")
    return 0


@command("system", "show the system prompt, or set it (/system none: no system prompt; /system default)",
         args=lambda p: p.add_argument("text", nargs="*"), where=REPL, usage="[TEXT | none | default]")
def system(env, ns) -> int:
    chat = env.repl.chat
    text = " ".join(ns.text)
    if not text:
        now = chat.system_prompt
        env.out.line(f"system prompt: {now!r}" if now else "no system prompt (the model's own default)")
        return 0
    chat.set_system({"none": "", "default": None}.get(text, text))
    env.out.line("system prompt set; it applies from the next message")
    return 0


@command("reset", "start a new conversation (a new assistant process)", where=REPL)
def reset(env, ns) -> int:
    env.repl.chat.reset()
    env.out.line("(new conversation)")
    return 0


@command("history", "the lines typed in this shell, newest last", where=REPL,
         args=lambda p: p.add_argument("n", nargs="?", type=int, default=20))
def history(env, ns) -> int:
    lines = env.repl.history_lines()[-ns.n:]
    for i, line in enumerate(lines, 1):
        env.out.line(f"{i:>4}  {line}")
    return 0


@command("tools", "the tools processes can call (tool.list)", where=REPL)
def tools(env, ns) -> int:
    r = env.k.call("tool.list")
    if not r.tools:
        env.out.line("no tools registered")
        return 0
    env.out.table(["TOOL", "WHAT"], [[t.name, t.description] for t in r.tools])
    return 0


@command("quit", "leave the shell (or Ctrl-D)", where=REPL)
def quit_(env, ns) -> int:
    env.repl.leaving = True
    return 0
