"""Every slash command and chat through the shell's pipe mode (scripted driver), the error
boundary (one line, never a traceback), and `printf ... | llmos` as a real process."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import pytest
from llmos.shell.cli import main
from llmos.shell.env import Env
from llmos.shell.registry import for_
from llmos.shell.render import Out
from llmos.shell.repl import Repl
from llmos.syscalls.grammar import render_call


def pipe(kernel, text: str) -> tuple[int, str]:
    out: list[str] = []
    repl = Repl(Env(lambda: kernel, Out()), write=out.append)
    code = repl.run_pipe(io.StringIO(text))
    return code, "".join(out)


# One line per REPL command (and chat): what it prints. A command added without a line here fails
# test_every_command_has_a_pipe_test.
CASES = {
    "help": ("/help\n/help ps\n", ["/ps [--all]", "usage: /ps"]),
    "syscalls": ("/syscalls mem\n", ["mem.recall"]),
    "call": ("/call fs.write path=n.txt content=hi\n/call fs.read path=n.txt\n", ['"content": "hi"']),
    "run": ("/run list my files\n", ["↳ fs.list", "nothing here"]),
    "ps": ("/run list my files\n/ps --all\n", ["PID", "replied"]),
    "kill": ("/run list my files &\n/kill 1\n", ["[1] agent running in the background", "process 1:"]),
    "log": ("/run list my files\n/log 1\n", ["process 1 (agent) exited", "fs.list"]),
    "apps": ("/apps\n", ["agent", "GRANTED"]),
    "app": ("/app agent list my files\n", ["↳ fs.list", "nothing here"]),
    "tools": ("/tools\n", ["calculator"]),
    "mem": ("/mem\n/mem search nothing at all\n", ["memory of all processes", "no matches"]),
    "model": ("/model\n", ["model default", "'temperature': 0.2"]),
    "top": ("/top\n", ["PID", "PRIO"]),
    "history": ("/ps\n/history\n", ["1  /ps", "2  /history"]),
    "reset": ("/run list\nhi\n/reset\n", ["nothing here", "chatted", "(new conversation)"]),
    "set": ("/set top_k 20\n/set\n", ["top_k = 20", "top_k        20     you"]),
    "system": ("/system Be terse.\n/system\n", ["system prompt: 'Be terse.'"]),
    "journal": ("/call sys.time\n/journal --tail 1\n", ["sys.time", "ok"]),
    "quit": ("/quit\n/ps\n", []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_slash_command_in_a_pipe(kernel, scripted, name):
    scripted.queue(render_call("fs.list", {"path": "."}), "nothing here", "chatted")
    lines, wanted = CASES[name]
    code, text = pipe(kernel, lines)
    assert code == 0, text
    for w in wanted:
        assert w in text, f"{w!r} not in {text!r}"
    assert "Traceback" not in text
    if name == "quit":
        assert "no processes" not in text  # nothing runs after /quit


def test_every_command_has_a_pipe_test():
    assert set(for_("repl")) == set(CASES)


def test_chat_in_a_pipe_prints_the_reply_plain(kernel, scripted):
    scripted.queue("The capital of France is Paris.")
    code, text = pipe(kernel, "What is the capital of France?\n")
    assert code == 0 and text == "The capital of France is Paris.\n"


def test_a_failing_line_sets_the_exit_status_and_the_rest_still_run(kernel):
    code, text = pipe(kernel, "/call fs.read path=missing\n/kill nope\n/bogus\n/call sys.time\n")
    assert code == 38  # ENOSYS, the last line that failed
    assert "llmos: ENOENT" in text and "llmos: EINVAL: argument pid" in text and '"unix"' in text


@pytest.mark.parametrize("argv, errno", [
    (["model", "info", "no-such-model"], "ENOENT"),
    (["--model", "no-such-model", "batch", os.devnull], "ENOENT"),
    (["app", "grant", "agent", "FS.READ"], "EINVAL"),
    (["app", "grant", "nosuchapp", "fs.read"], "ENOENT"),
    (["call", "fs.read"], "EINVAL"),
    (["log", "999999"], "ENOENT"),
    (["kill", "999999"], "ENOENT"),
    (["ps", "--bogus"], "EINVAL"),
    (["batch", "/no/such/file.jsonl"], "ENOENT"),
    (["mem", "forget", "not-a-number"], "EINVAL"),
])
def test_user_mistakes_are_one_line(capsys, argv, errno):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's mistakes end there, after their one line
        code = exit_.code
    out, err = capsys.readouterr()
    assert code != 0 and err.startswith(f"llmos: {errno}: ") and err.count("\n") == 1, err
    assert "Traceback" not in out + err


def test_a_bug_is_one_line_and_a_log_file(capsys, home, monkeypatch):
    def broken(env, ns):
        raise RuntimeError("something inside broke")

    cmd = for_("cli")["ps"]
    monkeypatch.setattr(cmd, "run", broken)
    code = main(["ps"])
    _, err = capsys.readouterr()
    assert code == 70 and err.count("\n") == 1
    assert err.startswith("llmos: internal error: RuntimeError: something inside broke; the traceback is in ")
    log = err.split("the traceback is in ")[1].split(";")[0]
    assert log.startswith(str(home.resolve())) and "Traceback" in open(log).read()


def test_pipe_into_the_real_command(home):
    exe = shutil.which("llmos", path=os.path.dirname(sys.executable))
    env = {**os.environ, "LLMOS_HOME": str(home)}
    p = subprocess.run([exe], input="/call sys.info\n", capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and '"syscalls"' in p.stdout and "Traceback" not in p.stderr
    p = subprocess.run([exe], input="/call sys.info\n/call fs.read path=nope\n", capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("llmos: ENOENT")
