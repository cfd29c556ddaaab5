"""The first interactive shell: chat with the model, make syscalls, read the table.

Plain text chats with the model (streaming); lines starting with `/` are commands.
Ctrl-C stops the current generation and keeps the session; Ctrl-D leaves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..kernel.process import ExitStatus, ProcState
from ..syscalls.errno import Errno, SyscallError
from .args import split_call_line
from .render import error_line, to_json

SYSTEM = "You are llmos, a helpful assistant running inside the llmos operating system. Answer briefly."

HELP = """\
Type a message to chat with the model. Commands:
  /call NAME key=value ...   make a syscall, e.g. /call fs.list path=.
  /run TASK                  run TASK as a process of the agent app, showing each step
  /ps                        list processes (running and recent)
  /syscalls [FAMILY]         list the syscall table (or one family, with its arguments)
  /reset                     start a new conversation
  /help                      this text
  /quit                      leave (or Ctrl-D)
Ctrl-C stops a generation and keeps the session."""


class Repl:
    def __init__(self, kernel, *, session=None, write: Callable[[str], None] | None = None,
                 max_tokens: int = 512):
        self.k = kernel
        self.session = session
        self.write = write or self._stdout
        self.max_tokens = max_tokens
        self.messages: list[dict] = [{"role": "system", "content": SYSTEM}]

    @staticmethod
    def _stdout(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _make_session(self):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import NestedCompleter
        from prompt_toolkit.history import FileHistory

        families = sorted({s.family for s in self.k.table.values()})
        completer = NestedCompleter.from_nested_dict({
            "/call": {name: None for name in sorted(self.k.table)},
            "/syscalls": {f: None for f in families},
            "/run": None, "/ps": None, "/reset": None, "/help": None, "/quit": None,
        })
        return PromptSession(history=FileHistory(str(self.k.home / "shell_history")), completer=completer)

    def run(self) -> int:
        session = self.session or self._make_session()
        self.write(f"llmos — model {self.k.model_spec}. Type to chat, /help for commands, Ctrl-D to leave.\n")
        while True:
            try:
                line = session.prompt("llmos> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                self.write("\n")
                return 0
            if not self.handle(line.strip()):
                return 0

    def handle(self, line: str) -> bool:
        """Act on one line; False means leave."""
        if not line:
            return True
        if not line.startswith("/"):
            self.chat(line)
            return True
        cmd, _, rest = line.partition(" ")
        try:
            if cmd in ("/quit", "/exit"):
                return False
            if cmd == "/help":
                self.write(HELP + "\n")
            elif cmd == "/reset":
                self.messages = self.messages[:1]
                self.write("(new conversation)\n")
            elif cmd == "/syscalls":
                self.syscalls(rest.strip())
            elif cmd == "/run":
                self.run_task(rest.strip())
            elif cmd == "/ps":
                for p in self.k.procs.list(all=True)[-10:]:
                    end = f" [{p.exit_status}: {p.exit_reason}]" if p.ended else ""
                    self.write(f"{p.pid:>4} {p.state:<8} {p.task[:50]}{end}\n")
            elif cmd == "/call":
                name, args = split_call_line(rest)
                result = self.k.call(name, args, stream=self.write)
                self.write(to_json(result) + "\n")
            else:
                raise SyscallError(Errno.ENOSYS, f"unknown command {cmd}; /help lists them")
        except SyscallError as err:
            self.write(error_line(err) + "\n")
        return True

    def run_task(self, task: str) -> None:
        from ..apps.launch import launch
        from .cmd_proc import render

        if not task:
            raise SyscallError(Errno.EINVAL, "say what to do, e.g. /run list the files in my workspace")
        proc = launch(self.k, "agent", task)
        self.write(f"process {proc.pid} in {proc.workspace}\n")
        try:
            for step in self.k.run(proc.pid):
                self.write(render(step) + "\n")
                if step.type == "reply":
                    self.write(step.text + "\n")
        except KeyboardInterrupt:
            self.k.procs.finish(proc.pid, ProcState.KILLED, ExitStatus.INTERRUPTED, "interrupted (Ctrl-C)")
            self.write("(stopped)\n")

    def syscalls(self, family: str) -> None:
        specs = sorted((s for s in self.k.table.values() if family in ("", s.family, s.name)), key=lambda s: s.name)
        if not specs:
            raise SyscallError(Errno.ENOENT, f"no syscall family {family!r}; /syscalls lists them all")
        for s in specs:
            args = " ".join(n if f.is_required() else f"[{n}]" for n, f in s.args.model_fields.items())
            self.write(f"{s.name:<14} {s.doc}" + (f"\n{'':<14} args: {args}" if family and args else "") + "\n")

    def chat(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})
        said: list[str] = []

        def stream(piece: str) -> None:
            said.append(piece)
            self.write(piece)

        while True:
            try:
                result = self.k.call("llm.chat", {"messages": self.messages, "max_tokens": self.max_tokens}, stream=stream)
                reply = result.text
                break
            except SyscallError as err:
                if err.code == Errno.EFBIG and len(self.messages) > 2 and not said:
                    del self.messages[1]  # the conversation outgrew the context: drop the oldest turn
                    continue
                reply = "".join(said)
                self.write(("\n" if said else "") + ("(stopped)" if err.code == Errno.EINTR else error_line(err)) + "\n")
                if reply:
                    self.messages.append({"role": "assistant", "content": reply})
                else:
                    self.messages.pop()
                return
        self.messages.append({"role": "assistant", "content": reply})
        self.write("\n")
