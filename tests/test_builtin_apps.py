"""The six built-in apps on the scripted driver (deterministic): what each does with a given
model answer, including the answers a small model gets wrong."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from llmos.apps.launch import launch, run_code_app
from llmos.apps.registry import discover, find
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.shell.cli import main
from llmos.syscalls.caps import CapSet
from llmos.syscalls.grammar import render_call
from test_permissions import HashEmbedder

SIX = ["assistant", "summarize", "translate", "code", "notes", "files"]
TEXT = ("The river Lune floods the valley every spring. Farmers in the valley move their sheep to "
        "higher fields before the flood. The council built a new flood wall in 2019, and since then "
        "the village of Caton has stayed dry. The sheep farmers still move their flocks each spring.")


@pytest.fixture(autouse=True)
def hash_embedder(monkeypatch):
    monkeypatch.setattr("llmos.kernel.memory.embed.MiniLM", HashEmbedder)


def run(kernel, name: str, task: str) -> tuple[int, str, object]:
    app = find(kernel.home, name)
    p = launch(kernel, name, task)
    status, text = run_code_app(kernel, app, p)
    return status, text, kernel.procs.get(p.pid)


def test_the_six_are_builtin_entry_points_with_default_grants(kernel, capsys):
    apps, problems = discover(kernel.home)
    assert problems == []
    for name in SIX:
        a = apps[name]
        assert a.builtin and a.dist == "llmos" and a.manifest.default_grants
        assert set(a.manifest.default_grants) <= set(a.manifest.capabilities) or name == "files"
    assert main(["app", "list", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)["apps"]}
    assert set(SIX) <= set(listed) and all(listed[n]["builtin"] for n in SIX)


def test_summarize_a_file_in_its_workspace(kernel, scripted):
    app = find(kernel.home, "summarize")
    p = launch(kernel, "summarize", "river.txt --words 20")
    (Path(p.workspace) / "river.txt").write_text(TEXT)
    scripted.queue("The Lune floods the valley each spring; a flood wall keeps Caton dry.")
    status, text = run_code_app(kernel, app, p)
    assert status == 0 and text.startswith("The Lune floods") and len(text) < len(TEXT)
    assert "20 words" in scripted.prompts[-1] and "Caton" in scripted.prompts[-1]


def test_summarize_splits_long_input_and_combines_the_parts(home):
    driver = ScriptedDriver(n_ctx=1000, default="The valley floods each spring and farmers move sheep.")
    long = "\n\n".join(f"Part {i}. " + TEXT for i in range(12))  # ~3,800 bytes: over 400 tokens a prompt
    with Kernel.boot(driver=driver) as k:
        status, text, p = run(k, "summarize", json.dumps(long) + " --words 30")
        assert status == 0 and "floods" in text and len(text) < len(long)
        prompts = [q for q in driver.prompts if "Summar" in q]
        assert len(prompts) >= 3  # the parts (map), then their summaries (reduce)
        assert all(len(q) < 1000 for q in prompts)  # each one fits in the window
        assert p.spent.tokens > 0 and p.spent.steps > 0


def test_summarize_falls_back_to_the_texts_own_sentences_and_says_so(kernel, scripted):
    scripted.default = "zzz zzz zzz zzz zzz zzz zzz zzz"
    status, text, _ = run(kernel, "summarize", json.dumps(TEXT) + " --words 25")
    assert status == 0 and "own sentences" in text
    first = text.split("\n\n")[0]
    assert "flood" in first.lower() and len(first.split()) <= 26


def test_summarize_bad_length_is_one_line(kernel):
    status, text, _ = run(kernel, "summarize", "hello there --words lots")
    assert status == 22 and text.startswith("EINVAL") and "--words" in text


def test_translate_text_and_refuse_an_echo(kernel, scripted):
    scripted.queue("Bonjour, comment allez-vous ?")
    status, text, _ = run(kernel, "translate", '"Good morning, how are you?" --to French')
    assert (status, text) == (0, "Bonjour, comment allez-vous ?")
    assert "into French" in scripted.prompts[-1]
    scripted.queue("Good morning, how are you?", "Good morning, how are you?")  # it only echoes
    status, text, _ = run(kernel, "translate", '"Good morning, how are you?" --to German')
    assert status == 5 and text.startswith("EIO") and "German" in text


def test_code_writes_python_that_parses_and_never_runs_it(kernel, scripted):
    scripted.queue("```python\ndef reverse(s):\n    return s[::-1]\n\nraise SystemExit('ran')\n```")
    status, text, _ = run(kernel, "code", '"a function that reverses a string" --out rev.py')
    assert status == 0 and "wrote rev.py" in text and "not run" in text
    ast.parse((kernel.workspace / "rev.py").read_text())  # in the user's workspace, and it parses


def test_code_has_the_model_fix_its_syntax_error(kernel, scripted):
    scripted.queue("```python\ndef add(a, b)\n    return a + b\n```", "```python\ndef add(a, b):\n    return a + b\n```")
    status, text, _ = run(kernel, "code", "add two numbers")
    assert status == 0 and "fixed by the model" in text
    assert "line 1" in scripted.prompts[-1]  # the error went back to the model
    assert ast.parse((kernel.workspace / "add_two_numbers.py").read_text())


def test_code_cuts_a_cut_off_reply_back_or_reports_it(kernel, scripted):
    cut_off = "```python\ndef add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return (a *"
    scripted.queue(cut_off, cut_off, cut_off)
    status, text, _ = run(kernel, "code", "add and multiply --out math_ops.py")
    assert status == 0 and "cut back" in text
    assert "def add" in (kernel.workspace / "math_ops.py").read_text()
    scripted.default = "I cannot do that ("
    status, text, _ = run(kernel, "code", "something --out none.py")
    assert status == 5 and "does not parse" in text and not (kernel.workspace / "none.py").exists()


def test_notes_remember_list_search_forget_across_runs(kernel):
    assert run(kernel, "notes", "remember 'the dentist is on Tuesday at 3'")[0] == 0
    assert run(kernel, "notes", "remember 'buy oat milk'")[0] == 0
    status, listed, _ = run(kernel, "notes", "list")
    assert status == 0 and "dentist" in listed and "oat milk" in listed
    status, found, _ = run(kernel, "notes", "search dentist")
    assert found.splitlines()[0].endswith("the dentist is on Tuesday at 3")
    note_id = found.split("]")[0].lstrip("[")
    status, text, _ = run(kernel, "notes", f"forget {note_id}")  # a later run forgets an earlier run's note
    assert status == 0
    assert "dentist" not in run(kernel, "notes", "list")[1]
    assert run(kernel, "notes", "forget 99999")[0] == 2  # ENOENT


def test_files_find_read_organize(kernel):
    ws = kernel.workspace
    (ws / "report.md").write_text("# report")
    (ws / "data.csv").write_text("a,b\n1,2\n")
    (ws / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    assert "report.md" in run(kernel, "files", "find '*.md'")[1]
    assert run(kernel, "files", "read report.md")[1] == "# report"
    status, planned, _ = run(kernel, "files", "organize")
    assert status == 0 and "photo.png -> images/photo.png" in planned and (ws / "photo.png").exists()
    status, done, _ = run(kernel, "files", "organize --apply")
    assert status == 0 and "moved 3 of 3" in done
    assert (ws / "images" / "photo.png").read_bytes() == b"\x89PNG\r\n\x1a\n\x00\xff"
    assert (ws / "documents" / "report.md").exists() and not (ws / "report.md").exists()


def test_assistant_answers_with_memory_and_a_tool(kernel, scripted):
    assert run(kernel, "assistant", "remember that my sister is called Ada")[1].startswith("I will remember")
    scripted.queue("Your sister is called Ada.")
    status, text, _ = run(kernel, "assistant", "what is my sister called?")
    assert (status, text) == (0, "Your sister is called Ada.")
    assert "my sister is called Ada" in scripted.prompts[-1]  # recalled into the system prompt
    # the model's own tool call: made through tool.call, its result handed back for the answer
    scripted.queue(render_call("calculator", {"expression": "17*23"}), "Seventeen twenty-threes are 391.")
    status, text, p = run(kernel, "assistant", "how much is seventeen times twenty-three?")
    assert (status, text) == (0, "Seventeen twenty-threes are 391.")
    assert "391" in scripted.prompts[-1]
    calls = [r["name"] for r in kernel.journal.tail(20, pid=p.pid)]
    assert "tool.call" in calls and "llm.chat" in calls
    # arithmetic in digits goes to the granted calculator by rule, without the model
    asked = len(scripted.prompts)
    status, text, p = run(kernel, "assistant", "What is 144 divided by 6?")
    assert (status, text) == (0, "144 divided by 6 is 24.") and len(scripted.prompts) == asked
    kernel.call("sys.revoke", {"app": "assistant", "caps": ["tool.call"]})  # no calculator granted: the model answers
    scripted.queue("It is 24.")
    assert run(kernel, "assistant", "What is 144 divided by 6?")[1] == "It is 24."


def test_app_run_brings_named_host_files_into_the_workspace(kernel, tmp_path):
    from llmos.shell.cmd_app import bring_in, copy_in

    (tmp_path / "in.txt").write_text("a quiet brown fox")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.md").write_text("# a")
    args, copies = bring_in([str(tmp_path / "in.txt"), "--words", "5", str(tmp_path / "folder")], kernel.workspace,
                            None)
    assert args == ["in/in.txt", "--words", "5", "in/folder"]
    p = kernel.spawn(task="x", caps=CapSet([]))
    copy_in(kernel, p.workspace, copies)
    assert (Path(p.workspace) / "in" / "in.txt").read_text() == "a quiet brown fox"
    assert (Path(p.workspace) / "in" / "folder" / "a.md").read_text() == "# a"
    assert bring_in([], kernel.workspace, b"piped text") == (["in/stdin.txt"], [(b"piped text", "in/stdin.txt")])
    assert bring_in(["--words", "5"], kernel.workspace, b"piped") == (["--words", "5", "in/stdin.txt"],
                                                                      [(b"piped", "in/stdin.txt")])
    inside = kernel.workspace / "mine.txt"
    inside.write_text("x")
    assert bring_in([str(inside)], kernel.workspace, None) == (["mine.txt"], [])  # already there: not copied


def test_files_through_the_command_line(home, capsys):
    (home / "workspace").mkdir(parents=True)
    (home / "workspace" / "plan.md").write_text("# plan")
    assert main(["app", "run", "files", "find", "*.md", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["type"] == "reply" and got["text"].startswith("plan.md")
