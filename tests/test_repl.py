"""The shell, driven line by line on the scripted driver: a stand-in prompt, then a pipe."""

from __future__ import annotations

from llmos.shell.env import Env
from llmos.shell.render import Out
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


def make(kernel, *lines, write=None):
    out: list[str] = []
    return Repl(Env(lambda: kernel, Out()), session=Lines(*lines), write=write or out.append), out


def test_chat_streams_and_keeps_the_conversation(kernel, scripted):
    scripted.queue("Hello there!", "You said hi.")
    repl, out = make(kernel, "hi", "what did I say?")
    assert repl.run() == 0
    text = "".join(out)
    assert "Hello there!" in text and "You said hi." in text
    assert [m["role"] for m in repl.chat.messages] == ["user", "assistant", "user", "assistant"]
    assert "Hello there!" in scripted.prompts[-1]  # the second turn saw the first


def test_chat_uses_the_model_card_not_a_shell_prompt(kernel, scripted):
    scripted.queue("Paris.")
    repl, out = make(kernel, "What is the capital of France?")
    repl.run()
    assert "llmos" not in scripted.prompts[-1]  # no system prompt of the shell's own
    call = kernel.journal.tail(1)[0]
    assert call["name"] == "llm.chat" and call["pid"] == 0
    assert (call["args"]["temperature"], call["args"]["top_p"]) == (0.2, 0.9)  # SmolLM2's card


def test_set_and_system_change_the_session(kernel, scripted):
    scripted.queue("one", "two")
    repl, out = make(kernel, "/set temperature 0.7", "/system Answer in one word.", "hi", "/system none", "/set",
                     "/set temperature 9", "/set nonsense 1", "again")
    repl.run()
    text = "".join(out)
    first, second = scripted.prompts[-2:]
    assert "Answer in one word." in first and "Answer in one word." not in second
    assert kernel.journal.tail(1)[0]["args"]["temperature"] == 0.7
    assert "temperature  0.7    you" in text and "top_p        0.9    SmolLM2" in text
    assert "llmos: EINVAL: temperature=9" in text and "no setting 'nonsense'" in text


def test_commands(kernel):
    repl, out = make(kernel, "/call fs.write path=a.txt 'content=two words'", "/call fs.read path=a.txt",
                     "/syscalls fs", "/call nope.nope", "/bogus", "/help", KeyboardInterrupt, "/quit", "never reached")
    assert repl.run() == 0
    text = "".join(out)
    assert '"content": "two words"' in text
    assert "fs.read    path=" in text
    assert "llmos: ENOSYS" in text and "unknown command /bogus" in text
    assert "/call NAME key=value" in text
    assert repl.session.lines == ["never reached"]


def test_ctrl_c_stops_generation_and_keeps_the_session(kernel, scripted):
    scripted.queue("a long answer that goes on", "second answer")
    out: list[str] = []

    def write(text):
        out.append(text)
        if text.startswith("a "):
            raise KeyboardInterrupt  # the user presses Ctrl-C while tokens stream

    repl, _ = make(kernel, "tell me a story", "again", write=write)
    assert repl.run() == 0
    text = "".join(out)
    assert "(stopped)" in text and "second answer" in text
    assert repl.chat.messages[1] == {"role": "assistant", "content": "a "}
    assert kernel.journal.tail(2)[0]["errno"] == "EINTR"


def test_conversation_longer_than_the_context_drops_old_turns(kernel, scripted):
    scripted.queue("ok")
    repl, out = make(kernel)
    repl.chat.messages += [{"role": "user", "content": "old " * 10}, {"role": "assistant", "content": "x"}] * 3
    whole = len(scripted.format_chat(repl.chat.messages + [{"role": "user", "content": "new question"}]))
    scripted.info.n_ctx = whole - 20  # the whole conversation does not fit; without its oldest turns it does
    repl.handle("new question")
    assert "ok" in "".join(out)
    assert repl.chat.messages[-1] == {"role": "assistant", "content": "ok"}
    assert len(repl.chat.messages) < 6 + 2 and scripted.prompts and len(scripted.prompts[-1]) < whole


def test_run_and_ps_from_the_shell(kernel, scripted):
    scripted.queue(render_call("fs.list", {"path": "."}), "nothing here")
    repl, out = make(kernel, "/run list my files", "/ps --all", "/run")
    repl.run()
    text = "".join(out)
    assert "↳ fs.list" in text and "nothing here" in text
    assert "exited" in text and "replied" in text
    assert "the following arguments are required: task" in text
