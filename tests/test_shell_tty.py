"""The real shell in a pseudo-terminal (pexpect), on the embedded model: start, /help, a chat
turn, Ctrl-C during a generation, a background run and /ps, Ctrl-C on a half-typed line, /quit."""

from __future__ import annotations

import os
import shutil
import sys

import pexpect
import pytest

pytestmark = pytest.mark.real


def test_the_shell_in_a_terminal(home):
    exe = shutil.which("llmos", path=os.path.dirname(sys.executable))
    env = {**os.environ, "LLMOS_HOME": str(home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    child = pexpect.spawn(exe, env=env, encoding="utf-8", timeout=120, dimensions=(50, 160))
    child.logfile_read = open(os.environ.get("LLMOS_TTY_LOG", os.devnull), "w")
    try:
        child.expect("llmos>", timeout=30)
        child.sendline("/help")
        child.expect(r"/kill PID")
        child.expect(r"/top")
        child.sendline("What is the capital of France?")
        child.expect("(?i)paris")
        child.expect("llmos>")
        child.sendline("/set max_tokens 400")
        child.expect("max_tokens = 400 for this session")  # (a bare "llmos>" would match the line's own redraw)
        child.expect("llmos>")
        child.sendline("Write a very long story about a lighthouse keeper and the sea.")
        child.expect(r"\x1b\[\?2004l")  # the prompt has handed the line over (bracketed paste off)
        child.expect(r"[A-Za-z]{3}")  # the model has started writing (no escape sequence has 3 letters)
        child.sendcontrol("c")  # stops the generation (EINTR), keeps the session
        child.expect(r"\(stopped\)")
        child.expect("llmos>")
        child.sendline("/run write hello into hello.txt &")
        child.expect(r"\[(\d+)\] agent running in the background")
        pid = child.match.group(1)
        child.sendline("/ps --all")
        child.expect(r"\n\s*\d+\s+0\s+assistant\s+waiting")  # the chat's own process, between turns
        child.expect(rf"\n\s*{pid}\s+0\s+agent")
        child.expect(r"llmos>[^\n]*\n")  # the next prompt is up (the ^C below belongs to it)
        child.send("a line I change my mind about")
        child.sendcontrol("c")  # drops the line, keeps the session
        child.sendline("/call sys.time")
        child.expect('"unix"')
        child.sendline("/quit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        output = child.before if isinstance(child.before, str) else ""
        child.close(force=True)
    assert "Traceback" not in output
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus, output)
