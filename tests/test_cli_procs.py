"""`llmos run/ps/kill/log/app` as a user types them."""

from __future__ import annotations

import json

import pytest
from llmos.kernel import Kernel
from llmos.shell.cli import main
from llmos.syscalls.caps import CapSet
from llmos.syscalls.grammar import render_call


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def history(home, scripted):
    """Two processes in the data directory: one that replied, one still ready."""
    with Kernel.boot(driver=scripted) as k:
        done = k.spawn(task="say hi", caps=CapSet.parse(["fs.read"]))
        scripted.queue(render_call("fs.read", {"path": "x"}), "hi!")
        list(k.run(done.pid))
        ready = k.spawn(task="waiting", caps=CapSet.parse(["fs.read"]))
    return done.pid, ready.pid


def test_ps_and_log(capsys, history):
    done, ready = history
    code, out, _ = run(capsys, "ps", "--all", "--json")
    rows = {p["pid"]: p for p in json.loads(out)}
    assert rows[done]["state"] == "exited" and rows[done]["reply"] == "hi!" and rows[ready]["state"] == "ready"
    code, out, _ = run(capsys, "ps")
    assert str(ready) in out and "say hi" not in out  # live only
    code, out, _ = run(capsys, "ps", "--all")
    assert "say hi" in out and "replied" in out
    code, out, _ = run(capsys, "log", str(done))
    assert code == 0 and "fs.read" in out and "ENOENT" in out and "reply: hi!" in out
    code, out, _ = run(capsys, "log", str(done), "--json")
    data = json.loads(out)
    assert [m["kind"] for m in data["messages"]] == ["task", "action", "observation", "action"]
    code, _, err = run(capsys, "log", "999")
    assert code != 0 and err.startswith("llmos: ENOENT")


def test_kill(capsys, history):
    done, ready = history
    code, out, _ = run(capsys, "kill", str(ready))
    assert code == 0 and "killed" in out
    code, _, err = run(capsys, "kill", str(done))
    assert code != 0 and "already ended" in err


def test_app_list_grant_revoke(capsys):
    code, out, _ = run(capsys, "app", "list")
    assert "agent" in out and "not yet asked" in out
    code, out, _ = run(capsys, "app", "grant", "agent", "fs.remove")
    assert code == 0 and "fs.remove" in out
    code, _, err = run(capsys, "app", "grant", "agent", "llm.chat")
    assert code == 13 and "does not ask for llm.chat" in err
    code, out, _ = run(capsys, "app", "revoke", "agent", "fs.remove")
    assert "fs.remove" not in out
    code, _, err = run(capsys, "run", "x", "--app", "nope")
    assert code != 0 and err.startswith("llmos: ENOENT") and "agent" in err
