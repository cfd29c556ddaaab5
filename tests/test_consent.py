"""Consent: only built-in apps carry default grants; a third-party app gets what a person
granted (a terminal's answer, --grant, --grant-all) and nothing else; grants go through the
root-only sys.grant / sys.revoke, so the journal shows them; a bad manifest is refused whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from llmos.apps.launch import capabilities, consent, launch
from llmos.apps.registry import discover, find
from llmos.shell.cli import main
from llmos.shell.cmd_app import parse_answer
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError

DEMO = '''
from llmos.apps.sdk import App

def main(sys, task):
    return sys.fs.list(path=".").path

app = App({"name": "demo", "description": "asks for a lot", "kind": "code",
           "capabilities": ["fs.*", "proc.*"], "default_grants": ["fs.*", "proc.*"]}, main=main)
'''


@pytest.fixture
def demo(home):
    (home / "apps").mkdir(parents=True, exist_ok=True)
    (home / "apps" / "demo.py").write_text(DEMO)


def test_a_loose_third_party_app_gets_nothing_ungranted(kernel, demo):
    app = find(kernel.home, "demo")
    assert not app.builtin and app.manifest.default_grants  # it lists defaults: they are ignored
    assert capabilities(kernel, app).strings() == []
    p = launch(kernel, "demo", "look around")
    assert p.caps == [] and not p.capset.allows("fs.list", ".") and not p.capset.allows("proc.spawn")
    assert consent(kernel, app) == []  # no terminal, no --grant: the answer is "nothing", recorded
    assert kernel.grants.get("demo") == []


def test_the_cli_runs_a_new_third_party_app_with_nothing(demo, capsys):
    assert main(["app", "run", "demo"]) == 13
    err = capsys.readouterr().err
    assert "demo granted: nothing" in err and "EACCES" in err and "Traceback" not in err
    assert main(["run", "hi", "--app", "demo"]) == 13  # llmos run does not grant it either


def test_grant_flags_are_checked_against_what_it_asks_and_journaled(kernel, demo):
    app = find(kernel.home, "demo")
    with pytest.raises(SyscallError) as info:
        consent(kernel, app, grant=["llm.chat"])
    assert info.value.code == Errno.EACCES and "does not ask for llm.chat" in info.value.message
    assert consent(kernel, app, grant=["fs.read:notes/**"]) == ["fs.read:notes/**"]
    assert capabilities(kernel, app).strings() == ["fs.read:notes/**"]
    assert consent(kernel, app) is None  # asked before: not asked again
    assert consent(kernel, app, grant_all=True) == ["fs.*", "fs.read:notes/**", "proc.*"]
    rows = [r for r in kernel.journal.tail(10) if r["name"] == "sys.grant"]
    assert [(r["pid"], r["args"]["caps"]) for r in rows] == [(0, ["fs.read:notes/**"]), (0, ["fs.*", "proc.*"])]


def test_builtins_get_their_defaults_once(kernel):
    app = find(kernel.home, "summarize")
    assert app.builtin
    assert capabilities(kernel, app).strings() == app.manifest.default_grants
    assert kernel.grants.get("summarize") == sorted(app.manifest.default_grants)
    kernel.call("sys.revoke", {"app": "summarize", "caps": ["llm.chat"]})
    assert "llm.chat" not in capabilities(kernel, app).strings()  # a revoked default stays revoked


def test_only_root_changes_grants(kernel):
    p = kernel.spawn(task="sneaky", caps=CapSet.parse(["sys.*"]))
    psys = kernel.process_sys(p.pid)
    for call in (lambda: psys.sys.grant(app="agent", caps=["*"]), lambda: psys.sys.revoke(app="agent")):
        with pytest.raises(SyscallError) as info:
            call()
        assert info.value.code == Errno.EACCES and "root" in info.value.message
    assert kernel.grants.get("agent") is None
    assert kernel.call("sys.grant", {"app": "agent", "caps": ["fs.read"]}).granted == ["fs.read"]
    assert kernel.call("sys.revoke", {"app": "agent"}).granted == []


@pytest.mark.parametrize("answer, granted", [
    ("all\n", ["fs.*", "proc.*"]), ("\n", []), ("none\n", []), ("2\n", ["proc.*"]),
    ("1, 2\n", ["fs.*", "proc.*"]), ("fs.*\n", ["fs.*"]), ("7\n", None), ("bogus\n", None),
])
def test_the_grant_question_answers(answer, granted):
    assert parse_answer(answer, ["fs.*", "proc.*"]) == granted


@pytest.mark.parametrize("argv, code, words", [
    (["app", "grant", "agent", "NOT.A.CAP"], 22, "bad capability"),
    (["app", "revoke", "agent", "NOT.A.CAP"], 22, "bad capability"),
    (["app", "grant", "agent", "llm.chat"], 13, "does not ask for"),
    (["app", "info", "nosuch"], 2, "no app named"),
    (["app", "remove", "summarize"], 13, "built into llmos"),
    (["app", "install", "/no/such/dir"], 2, "no such file"),
    (["app", "run"], 22, "say which app"),
])
def test_app_command_mistakes_are_one_line(capsys, argv, code, words):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("llmos: E") and words in err and err.count("\n") == 1, err


def test_app_info_and_list_show_requested_granted_and_broken(home, demo, capsys):
    (home / "apps" / "broken.py").write_text("from llmos.apps.sdk import App\napp = App({'name': 'x'})\n")
    assert main(["app", "info", "demo", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["requested"] == ["fs.*", "proc.*"] and got["granted"] is None and got["default_grants"] == []
    assert main(["app", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any("broken.py" in b["app"] and "description" in b["why"] for b in listed["broken"])
    assert main(["app", "list"]) == 0
    out, err = capsys.readouterr()
    assert "demo" in out and "nothing until granted" in out and "broken app" in err


def test_a_bad_manifest_package_is_refused_and_left_uninstalled(tmp_path, home):
    src = tmp_path / "badapp"
    src.mkdir()
    (src / "pyproject.toml").write_text('[project]\nname="llmos-badapp"\nversion="0.1"\n'
                                        '[project.entry-points."llmos.apps"]\nbad="badapp:app"\n')
    (src / "badapp.py").write_text('app = {"name": 5}\n')
    env = {**os.environ, "LLMOS_HOME": str(home)}
    llmos = os.path.join(os.path.dirname(sys.executable), "llmos")
    try:
        got = subprocess.run([llmos, "app", "install", str(src), "--grant-all"], env=env, capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=300)
        assert got.returncode == 22 and got.stderr.startswith("llmos: EINVAL: llmos-badapp: app bad")
        assert "not an llmos App" in got.stderr and "nothing was installed" in got.stderr
        assert got.stderr.count("\n") == 1 and "Traceback" not in got.stderr
        shown = subprocess.run([sys.executable, "-m", "pip", "show", "-q", "llmos-badapp"], capture_output=True)
        assert shown.returncode != 0  # pip-uninstalled again
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "llmos-badapp"], capture_output=True)
    apps, problems = discover(home)
    assert "bad" not in apps and problems == []


def test_a_grant_made_while_grants_are_read_is_never_read_as_nothing(kernel, monkeypatch):
    """Four chat sessions opened at once: one read the assistant's grants as the first one's
    default grants landed between its two reads, and got no capabilities at all."""
    import threading

    g = kernel.grants
    real = g.store.query
    granting: list[threading.Thread] = []

    def query(sql, params=()):
        out = real(sql, params)
        if not granting:  # between the two reads, another thread grants
            granting.append(threading.Thread(target=g.grant, args=("newapp", ["fs.read"])))
            granting[0].start()
            granting[0].join(0.5)  # it waits for the read to end
        return out

    monkeypatch.setattr(g.store, "query", query)
    assert g.get("newapp") is None  # before the grant, whole
    granting[0].join()
    assert g.get("newapp") == ["fs.read"]
