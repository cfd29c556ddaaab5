"""The interactive shell: plain text chats with the model, `/command` runs a registry command.

Three ways to drive it: a terminal (prompt-toolkit: history, suggestions, completion, a bottom
toolbar), a pipe (each line run in turn, plain output, the exit status of the last line that
failed), and a test's stand-in session. The model loads in the background while the prompt is up.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from contextlib import contextmanager

from ..syscalls.errno import Errno, SyscallError
from .boundary import explain
from .chat import Chat
from .registry import parse_line
from .render import Out, call_line, result_line

# The chat's calls the person sees (as /run shows a process's steps): name -> (what, its arguments)
SHOWN = {"tool.call": lambda a: (a.get("name", "?"), a.get("args", {})),
         "mem.remember": lambda a: ("mem.remember", a)}


class Repl:
    def __init__(self, env, *, session=None, write=None):
        self.env = env
        env.repl = self
        if write is not None:
            env.out = Out(write)
        self.out = env.out
        self.k = env.k
        self.session = session  # a stand-in with .prompt(text) (tests); else made in run()
        self.chat = Chat(self.k, on_call=self.shown)
        self.leaving = False
        self.prompting = False
        self.jobs: dict[int, threading.Thread] = {}
        self.notices: queue.Queue[str] = queue.Queue()
        self.rate = ""  # the last reply's tokens per second, for the toolbar
        self.load_error: str | None = None
        self.typed: list[str] = []  # this session's lines, for /history without a history file
        self._said: list[str] = []  # the reply streamed so far in this turn

    def new_chat(self) -> None:
        self.chat.close()
        self.chat = Chat(self.k, on_call=self.shown)

    # -- the three drivers --------------------------------------------------------------------

    def run(self) -> int:
        if self.session is None and not sys.stdin.isatty():
            return self.run_pipe(sys.stdin)
        if self.session is None:
            self.session = self._make_session()
            self._load_model()
            self.out.line(f"llmos — model {self.k.model_spec}. Type to chat, /help for commands, Ctrl-D to leave.")
        try:
            while not self.leaving:
                try:
                    line = self._prompt()
                    self.handle(line)
                    self._flush_notices()
                except KeyboardInterrupt:  # Ctrl-C at the prompt, or between a command and the next prompt
                    continue
                except EOFError:
                    break
            self._stop_jobs()
        finally:
            self.chat.close()
        return 0

    def run_pipe(self, lines) -> int:
        """Run each line; the exit status is that of the last line that failed (0: none did)."""
        status = 0
        try:
            for line in lines:
                if self.leaving:
                    break
                code = self.handle(line.rstrip("\n"))
                status = code or status
            self._wait_jobs()
        finally:
            self.chat.close()
        return status

    def _prompt(self) -> str:
        from prompt_toolkit.patch_stdout import patch_stdout

        self.prompting = True
        try:
            with patch_stdout(raw=True):  # a background notice prints above the line being typed
                return self.session.prompt("llmos> ")
        finally:
            self.prompting = False

    # -- one line -----------------------------------------------------------------------------

    def handle(self, line: str) -> int:
        """Act on one line; its exit status (errors are printed as one line)."""
        line = line.strip()
        if not line or line.startswith("#"):
            return 0
        self.typed.append(line)
        try:
            if not line.startswith("/"):
                return self.say(line)
            cmd, ns = parse_line(line)
            if ns is None:  # /cmd --help
                from .registry import repl_parser

                self.out.write(repl_parser(cmd).format_help())
                return 0
            with self.quiet_keys():
                return cmd.run(self.env, ns) or 0
        except (Exception, KeyboardInterrupt) as exc:
            text, code = explain(exc)
            if code == Errno.EINTR.exit_code:
                text = "(stopped)"
            self.out.note(text)
            return code

    def say(self, text: str) -> int:
        """A chat turn: the assistant's reply streams in; its tool calls show as they happen."""
        self._said = []

        def stream(piece: str) -> None:
            self._said.append(piece)
            self.out.write(piece)

        t0 = time.monotonic()
        cancel = threading.Event()
        try:
            with self.quiet_keys(), self.ctrl_c_cancels(cancel):
                reply = self.chat.say(text, stream, cancel=cancel)
        finally:
            if self._said and not "".join(self._said).endswith("\n"):
                self.out.write("\n")
        if reply and not "".join(self._said).strip():  # made without the model (the calculator, a note kept)
            self.out.line(reply)
        last = self.chat.last
        if last is not None:
            self.rate = f"{last.completion_tokens / max(1e-6, time.monotonic() - t0):.1f} tok/s"
        return 0

    def shown(self, name: str, args: dict, result) -> None:
        """A chat turn's call, shown compactly as it ends: tool calls and what it keeps."""
        if name not in SHOWN:
            return
        if self._said and not "".join(self._said).endswith("\n"):
            self.out.write("\n")
        self.out.line(call_line(*SHOWN[name](args)))
        self.out.line(result_line(result))
        self._said = []

    # -- background processes ---------------------------------------------------------------

    def background(self, pid: int, **kw) -> None:
        """Run process `pid` in a thread; a notice says when it ends."""
        def go() -> None:
            try:
                for _ in self.k.run(pid, **kw):
                    pass
                p = self.k.procs.get(pid)
                end = f"replied: {p.reply}" if p.reply else f"{p.state} [{p.exit_status}: {p.exit_reason}]"
                self.notify(f"[{pid}] done, {end}")
            except Exception as exc:  # noqa: BLE001 - reported as a notice, the shell goes on
                self.notify(f"[{pid}] {explain(exc)[0]}")
            finally:
                self.jobs.pop(pid, None)

        t = threading.Thread(target=go, name=f"llmos-bg-{pid}", daemon=True)
        self.jobs[pid] = t
        t.start()

    def notify(self, text: str) -> None:
        if self.prompting:
            print(text, flush=True)  # stdout is patched: it lands above the prompt
        else:
            self.notices.put(text)

    def _flush_notices(self) -> None:
        while not self.notices.empty():
            self.out.line(self.notices.get())

    def _wait_jobs(self) -> None:
        for t in list(self.jobs.values()):
            t.join()
        self._flush_notices()

    def _stop_jobs(self) -> None:
        for pid in list(self.jobs):
            try:
                self.k.call("proc.kill", {"pid": pid})
            except SyscallError:
                pass
        for t in list(self.jobs.values()):
            t.join(timeout=5)

    # -- the terminal -------------------------------------------------------------------------

    def _load_model(self) -> None:
        def load() -> None:
            try:
                _ = self.k.scheduler  # the model, then its scheduler
            except Exception as exc:  # noqa: BLE001 - shown in the toolbar and as a notice
                self.load_error = explain(exc)[0]
                self.notify(self.load_error)

        self.k.progress = None  # a progress bar would tear the prompt; the toolbar says "loading"
        threading.Thread(target=load, name="llmos-model-load", daemon=True).start()

    def toolbar(self) -> str:
        loaded = self.k.info()["model_loaded"]
        state = "failed" if self.load_error else ("ready" if loaded else "loading…")
        bg = f" | {len(self.jobs)} in background" if self.jobs else ""
        rate = f" | {self.rate}" if self.rate else ""
        return f" model {self.k.model_spec} ({state}){bg}{rate} | /help  Ctrl-D leaves"

    def history_lines(self) -> list[str]:
        hist = getattr(self.session, "history", None)
        if hist is None:
            return list(self.typed)
        return list(reversed(list(hist.load_history_strings())))

    def _make_session(self):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        from .complete import ShellCompleter

        keys = KeyBindings()

        @keys.add("escape", "enter")
        def _(event):  # Alt-Enter: a new line in the same message
            event.current_buffer.insert_text("\n")

        return PromptSession(history=FileHistory(str(self.k.home / "shell_history")),
                             auto_suggest=AutoSuggestFromHistory(), completer=ShellCompleter(self),
                             complete_while_typing=True, bottom_toolbar=self.toolbar, key_bindings=keys,
                             prompt_continuation="...... ", color_depth=None if self.out.color else _mono())

    @contextmanager
    def ctrl_c_cancels(self, cancel: threading.Event):
        """Ctrl-C sets `cancel`, which the call checks between tokens (it ends with EINTR),
        instead of raising KeyboardInterrupt wherever the main thread happens to be."""
        import signal

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = signal.signal(signal.SIGINT, lambda *_: cancel.set())
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    @contextmanager
    def quiet_keys(self):
        """While the model works, keys typed are not echoed into its output (they wait for the
        next prompt); Ctrl-C still interrupts. (Under a pseudo-terminal, prompt-toolkit can hand
        the terminal back with ISIG still off: then Ctrl-C would be a plain key.)"""
        try:
            import termios

            fd = sys.stdin.fileno()
            old = termios.tcgetattr(fd) if sys.stdin.isatty() and self.session is not None else None
        except (ImportError, OSError, ValueError):
            old = None
        if old is None:
            yield
            return
        new = list(old)
        new[3] &= ~(termios.ECHO | termios.ICANON)
        new[3] |= termios.ISIG  # Ctrl-C is a signal even if the prompt's raw mode left it off
        termios.tcsetattr(fd, termios.TCSANOW, new)
        try:
            yield
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, old)


def _mono():
    from prompt_toolkit.output import ColorDepth

    return ColorDepth.MONOCHROME
