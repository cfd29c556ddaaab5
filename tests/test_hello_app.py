"""examples/hello-app as a user meets it: pip-installed into this environment (no network),
the grant question answered on a terminal, run, removed. Without a terminal and without
--grant it gets nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hello-app"
LLMOS = str(Path(sys.executable).parent / "llmos")


def llmos(*args: str, env: dict, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([LLMOS, *args], env=env, stdin=stdin, capture_output=True, text=True, timeout=300)


def installed() -> bool:
    done = subprocess.run([sys.executable, "-m", "pip", "show", "-q", "llmos-hello"], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def hello_src(tmp_path):
    src = tmp_path / "hello-app"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    yield src
    if installed():  # whatever happened, the environment is left as it was
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "llmos-hello"], capture_output=True)


def test_install_answer_the_grant_question_run_and_remove(home, hello_src):
    env = {**os.environ, "LLMOS_HOME": str(home)}
    # no terminal, no --grant: installed, granted nothing, and it can do nothing
    got = llmos("app", "install", str(hello_src), env=env)
    assert got.returncode == 0, got.stderr
    assert "installed hello 0.1.0" in got.stdout and "hello granted: nothing" in got.stderr
    got = llmos("app", "run", "hello", "Ada", env=env)
    assert got.returncode == 13 and "EACCES" in got.stderr and "Traceback" not in got.stderr
    assert llmos("app", "remove", "hello", env=env).returncode == 0 and not installed()

    # on a terminal it asks; the answer is "1": fs.write only
    child = pexpect.spawn(LLMOS, ["app", "install", str(hello_src)], env=env, encoding="utf-8", timeout=300)
    child.expect("hello .* asks for:")
    child.expect(r"1\. fs\.write")
    child.expect(r"2\. tool\.call:hello\.\*")
    child.expect(r"\[none\]: ")
    child.sendline("1")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "hello granted: fs.write" in child.before
    listed = {a["name"]: a for a in json.loads(llmos("app", "list", "--json", env=env).stdout)["apps"]}
    assert listed["hello"]["granted"] == ["fs.write"] and not listed["hello"]["builtin"]
    assert listed["hello"]["source"] == "package llmos-hello 0.1.0"
    got = llmos("app", "run", "hello", "Ada", env=env)  # its tool is not granted
    assert got.returncode == 13 and "tool.call on 'hello.shout' is not granted" in got.stderr

    assert llmos("app", "grant", "hello", "tool.call:hello.*", env=env).returncode == 0
    got = llmos("app", "run", "hello", "Ada", "--json", env=env)
    assert got.returncode == 0, got.stderr
    reply = json.loads(got.stdout)
    assert reply["type"] == "reply" and reply["text"] == "HELLO, ADA! (kept in greeting.txt)"
    assert (home / "proc" / str(reply["pid"]) / "greeting.txt").read_text() == "Hello, Ada\n"
    journal = [json.loads(line) for line in llmos("journal", "--json", "--tail", "100", env=env).stdout.splitlines()]
    grants = [(r["pid"], r["name"], r["args"].get("caps")) for r in journal if r["name"] in ("sys.grant", "sys.revoke")]
    assert (0, "sys.grant", ["fs.write"]) in grants and (0, "sys.grant", ["tool.call:hello.*"]) in grants

    # the example's own tests pass against the installed package
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(hello_src / "tests")],
                         capture_output=True, text=True, env=env, cwd=hello_src, timeout=300)
    assert own.returncode == 0, own.stdout[-2000:]

    got = llmos("app", "remove", "hello", env=env)
    assert got.returncode == 0 and "removed hello" in got.stdout and not installed()
    assert "hello" not in {a["name"] for a in json.loads(llmos("app", "list", "--json", env=env).stdout)["apps"]}
