"""The shell, driven line by line on the scripted driver: a stand-in prompt, then a pipe."""

from __future__ import annotations

import pytest
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


def chats(kernel) -> list[dict]:
    """The journal's llm.chat rows, oldest first."""
    return [r for r in kernel.journal.tail(200) if r["name"] == "llm.chat"]


def test_chat_is_a_turn_of_the_assistant_process_and_keeps_the_conversation(kernel, scripted):
    scripted.queue("Hello there!", "You said hi.")
    repl, out = make(kernel, "hi", "what did I say?", "/ps")
    assert repl.run() == 0
    text = "".join(out)
    assert "Hello there!" in text and "You said hi." in text
    assert [m["role"] for m in repl.chat.messages] == ["user", "assistant", "user", "assistant"]
    assert "Hello there!" in scripted.prompts[-1]  # the second turn saw the first
    pid = repl.chat.latest
    p = kernel.procs.get(pid)
    assert p.app == "assistant" and f"{pid}" in text and "waiting" in text  # /ps while the session lasts
    assert (p.state, p.exit_reason) == ("exited", "session ended")  # the shell closed it on the way out
    assert {r["pid"] for r in chats(kernel)} == {pid}  # every generation is the process's, journaled
    assert [m["content"] for m in kernel.memory.messages(pid)][:2] == ["hi", "Hello there!"]  # in the memory manager


def test_chat_uses_the_model_card_not_a_shell_prompt(kernel, scripted):
    scripted.queue("Paris.")
    repl, out = make(kernel, "What is the capital of France?")
    repl.run()
    assert "llmos" not in scripted.prompts[-1]  # no system prompt of the shell's own
    call = chats(kernel)[-1]
    assert (call["args"]["temperature"], call["args"]["top_p"]) == (0.2, 0.9)  # SmolLM2's card


def test_set_and_system_change_the_session(kernel, scripted):
    scripted.queue("one", "two")
    repl, out = make(kernel, "/set temperature 0.7", "/system Answer in one word.", "/system", "hi", "/system none",
                     "/set", "/set temperature 9", "/set nonsense 1", "again")
    repl.run()
    text = "".join(out)
    first, second = scripted.prompts[-2:]
    assert "Answer in one word." in first and "Answer in one word." not in second
    assert "system prompt: 'Answer in one word.'" in text
    assert chats(kernel)[-1]["args"]["temperature"] == 0.7
    assert "temperature  0.7    you" in text and "top_p        0.9    SmolLM2" in text
    assert "llmos: EINVAL: temperature=9" in text and "no setting 'nonsense'" in text


def test_a_tool_call_is_shown_as_it_happens_and_its_result_answered(kernel, scripted):
    from test_memory import HashEmbedder

    kernel.memory._embedder = HashEmbedder()
    scripted.queue("Paris.", render_call("calculator", {"expression": "2 ** 10"}), "It is 1024.")
    repl, out = make(kernel, "What is the capital of France?", "evaluate arithmetic exactly: two to the tenth")
    repl.run()
    text = "".join(out)
    plain, about_it = scripted.prompts[0], scripted.prompts[1]
    assert "calculator" not in plain and "calculator" in about_it  # tools described only when asked about
    assert '↳ calculator {"expression": "2 ** 10"}' in text and "= ok 1024" in text
    assert text.index("= ok 1024") < text.index("It is 1024.")
    assert "<tool_call>" not in text  # the call is shown compactly, not streamed
    roles = [(m["role"], m["content"][:11]) for m in repl.chat.messages][2:]
    assert roles[1:] == [("assistant", "<tool_call>"), ("user", "<tool_respon"[:11]), ("assistant", "It is 1024.")]


def test_arithmetic_goes_to_the_calculator_and_remember_is_kept(kernel, scripted):
    kernel.memory._embedder = __import__("test_memory").HashEmbedder()
    repl, out = make(kernel, "what is 17 times 23?", "remember that my sister is called Ada")
    repl.run()
    text = "".join(out)
    assert '↳ calculator {"expression": "17 * 23"}' in text and "17 times 23 is 391." in text
    assert '↳ mem.remember {"text": "my sister is called Ada"' in text and "I will remember that" in text
    assert [m["role"] for m in repl.chat.messages] == ["user", "assistant"] * 2


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
    assert repl.chat.messages[1] == {"role": "assistant", "content": "a "}  # what was said stands
    assert chats(kernel)[0]["errno"] == "EINTR" and chats(kernel)[1]["ok"]
    assert len({r["pid"] for r in chats(kernel)}) == 1  # the same process went on


def test_a_killed_conversation_is_replaced_by_a_new_one(kernel, scripted):
    scripted.queue("first", "second")
    repl, out = make(kernel)
    repl.handle("hello")
    old = repl.chat.latest
    repl.handle(f"/kill {old}")
    repl.handle("are you there?")
    text = "".join(out)
    assert f"process {old} had ended; a new one starts" in text and "second" in text
    assert repl.chat.latest != old and kernel.procs.get(old).state == "killed"
    repl.handle("/reset")
    assert kernel.procs.get(repl.chat.latest).exit_reason == "session ended"


def test_a_failed_turn_still_leaves_the_conversation_taking_turns(kernel, scripted):
    """A turn that fails with nothing said (here the model's call names no tool it has) ends
    with an empty answer, so the next turn's window still alternates user and assistant."""
    from test_memory import HashEmbedder

    kernel.memory._embedder = HashEmbedder()
    scripted.queue(render_call("no.such.tool", {}), "fine")
    repl, out = make(kernel)
    assert repl.handle("evaluate arithmetic exactly: a lot") != 0 and repl.handle("again") == 0
    assert "llmos: EIO: the model called 'no.such.tool'" in "".join(out)
    assert [m["role"] for m in repl.chat.messages] == ["user", "assistant", "user", "assistant"]
    assert repl.chat.messages[1]["content"] == "" and "fine" in "".join(out)


def test_a_long_message_is_chatted_not_refused(kernel, scripted):
    scripted.queue("A long one.")
    repl, out = make(kernel)
    assert repl.handle("please read this: " + "word " * 3000) == 0, "".join(out)
    assert "A long one." in "".join(out)


def test_a_killed_conversation_lets_go_of_its_budget_and_kv(kernel, scripted):
    scripted.queue("first", "second")
    repl, out = make(kernel)
    repl.handle("hello")
    old = repl.chat.latest
    assert old in kernel._budgets
    kernel.call("proc.kill", {"pid": old})
    repl.handle("again")
    assert old not in kernel._budgets and kernel.procs.get(old).state == "killed"
    assert kernel.procs.get(repl.chat.latest).state == "waiting"


def test_an_install_that_granted_the_old_assistant_can_chat(tmp_path, scripted):
    """Grants recorded before the assistant kept conversations (no mem.append, mem.window):
    the migration adds those two where llm.chat was granted."""
    import sqlite3

    from llmos.kernel import Kernel
    from llmos.kernel.store import Store

    Store(tmp_path / "llmos.db").close()
    db = sqlite3.connect(tmp_path / "llmos.db")
    db.execute("DELETE FROM _migrations WHERE name = 'm008_assistant_conversation'")
    old = ["llm.chat", "mem.recall", "mem.remember", "tool.list", "tool.call", "sys.time"]
    db.executemany("INSERT INTO grants(app, capability, granted) VALUES ('assistant', ?, 0)", [[c] for c in old])
    db.execute("INSERT INTO grants(app, capability, granted) VALUES ('notes', 'mem.recall', 0)")
    db.commit()
    db.close()
    scripted.queue("Hi.")
    with Kernel.boot(tmp_path, driver=scripted) as k:
        assert sorted(k.grants.get("assistant")) == sorted(old + ["mem.append", "mem.window"])
        assert k.grants.get("notes") == ["mem.recall"]  # another app's grants are left alone
        repl, out = make(k)
        assert repl.handle("hello") == 0 and "Hi." in "".join(out)


def test_a_long_conversation_is_paged_not_dropped(kernel, scripted):
    scripted.default = "ok"
    repl, out = make(kernel)
    for i in range(6):
        repl.handle(f"message {i}: " + "old words " * 40)
    scripted.info.n_ctx = 2500  # the whole conversation no longer fits the window
    repl.handle("new question")
    pid = repl.chat.latest
    assert len(repl.chat.messages) == 14 and repl.chat.messages[-1] == {"role": "assistant", "content": "ok"}
    st = kernel.memory.stat(pid)
    assert st["paged_out"] > 0 and st["summaries"] > 0  # paged out into a summary, still on disk
    assert len(scripted.tokenize(scripted.prompts[-1])) <= 2500 and "new question" in scripted.prompts[-1]


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


def test_run_and_ps_from_the_shell(kernel, scripted):
    scripted.queue(render_call("fs.list", {"path": "."}), "nothing here")
    repl, out = make(kernel, "/run list my files", "/ps --all", "/run")
    repl.run()
    text = "".join(out)
    assert "↳ fs.list" in text and "nothing here" in text
    assert "exited" in text and "replied" in text
    assert "the following arguments are required: task" in text


@pytest.mark.real
def test_the_shell_chats_through_the_assistant_on_the_real_model(real_kernel):
    """Plain text at the prompt on the embedded model (greedy, so each answer is fixed): a fact,
    arithmetic through the calculator (shown as it happens), and a fact kept and recalled, all in
    one assistant process whose conversation the memory manager holds."""
    repl, out = make(real_kernel)
    lines = ["/set temperature 0", "What is the capital of France?", "what is 17 times 23?",
             "remember that my sister is called Ada", "what is my sister called?"]
    assert repl.run_pipe(lines) == 0
    text = "".join(out)
    assert "Traceback" not in text and "llmos:" not in text, text
    assert "paris" in text.lower()
    assert '↳ calculator {"expression": "17 * 23"}' in text and "17 times 23 is 391." in text
    assert "↳ mem.remember" in text and "ada" in text.lower().split("i will remember that")[-1], text
    msgs = repl.chat.messages
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 4 and "<tool_call>" not in msgs[-1]["content"]
    assert real_kernel.procs.get(repl.chat.latest).exit_reason == "session ended"
