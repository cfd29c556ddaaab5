"""The first shell, driven line by line on the scripted driver."""

from __future__ import annotations

from llmos.shell.repl import Repl
from llmos.syscalls.grammar import render_call


class Lines:
    """A stand-in prompt session: gives lines, then Ctrl-D."""

    def __init__(self, *lines):
        self.lines = list(lines)

    def prompt(self, _):
        if not self.lines:
            raise EOFError
        line = self.lines.pop(0)
        if line is KeyboardInterrupt:
            raise KeyboardInterrupt
        return line


def make(kernel, *lines):
    out: list[str] = []
    return Repl(kernel, session=Lines(*lines), write=out.append), out


def test_chat_streams_and_keeps_the_conversation(kernel, scripted):
    scripted.queue("Hello there!", "You said hi.")
    repl, out = make(kernel, "hi", "what did I say?")
    assert repl.run() == 0
    text = "".join(out)
    assert "Hello there!" in text and "You said hi." in text
    roles = [m["role"] for m in repl.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert "Hello there!" in scripted.prompts[-1]  # the second turn saw the first


def test_commands(kernel):
    repl, out = make(kernel, "/call fs.write path=a.txt 'content=two words'", "/call fs.read path=a.txt",
                     "/syscalls fs", "/call nope.nope", "/bogus", "/help", KeyboardInterrupt, "/quit", "never reached")
    assert repl.run() == 0
    text = "".join(out)
    assert '"content": "two words"' in text
    assert "fs.read" in text and "args: path" in text
    assert "llmos: ENOSYS" in text and "unknown command /bogus" in text
    assert "/call NAME" in text
    assert repl.session.lines == ["never reached"]


def test_ctrl_c_stops_generation_and_keeps_the_session(kernel, scripted):
    scripted.queue("a long answer that goes on", "second answer")
    out: list[str] = []

    def write(text):
        out.append(text)
        if text.startswith("a "):
            raise KeyboardInterrupt  # the user presses Ctrl-C while tokens stream

    repl = Repl(kernel, session=Lines("tell me a story", "again"), write=write)
    assert repl.run() == 0
    text = "".join(out)
    assert "(stopped)" in text and "second answer" in text
    assert repl.messages[2] == {"role": "assistant", "content": "a "}
    assert kernel.journal.tail(2)[0]["errno"] == "EINTR"


def test_conversation_longer_than_the_context_drops_old_turns(kernel, scripted):
    scripted.queue("ok")
    repl, out = make(kernel)
    repl.messages += [{"role": "user", "content": "old " * 10}, {"role": "assistant", "content": "x"}] * 3
    whole = len(scripted.format_chat(repl.messages + [{"role": "user", "content": "new question"}]))
    scripted.info.n_ctx = whole - 20  # the whole conversation does not fit; without its oldest turns it does
    repl.chat("new question")
    assert "ok" in "".join(out)
    assert repl.messages[-1] == {"role": "assistant", "content": "ok"}
    assert len(repl.messages) < 2 + 6 + 1 and scripted.prompts and len(scripted.prompts[-1]) < whole


def test_run_and_ps_from_the_shell(kernel, scripted):

    scripted.queue(render_call("fs.list", {"path": "."}), "nothing here")
    repl, out = make(kernel, "/run list my files", "/ps", "/run")
    repl.run()
    text = "".join(out)
    assert "[1] fs.list" in text and "nothing here" in text
    assert "exited" in text and "replied" in text
    assert "say what to do" in text
