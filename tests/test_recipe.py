"""llmos's own adapter: its function-calling catalog checks clean, shares nothing with the
tool-call benchmark, and becomes training examples in the exact prompt and action format;
`default+lora:llmos` runs the default model with the shipped adapter folded in."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from llmos.apps import distill as app_distill
from llmos.apps.builtin.code import SYSTEM as CODE_SYSTEM
from llmos.drivers.base import DriverError
from llmos.drivers.models import BUNDLED_ADAPTERS, KERNEL_ADAPTER, ModelStore
from llmos.kernel.learn import curriculum, distill, recipe, toolcalls
from llmos.syscalls.grammar import parse_action

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_catalog_checks_clean_and_is_varied():
    catalog = toolcalls.load_catalog()
    assert toolcalls.check(catalog) == []
    assert len(catalog) >= 75 and sum(len(e["questions"]) for e in catalog) >= 450
    text = json.dumps([e["tool"] for e in catalog])
    for feature in ('"$ref"', '"enum"', '"default"', '"type": "array"', '"type": "boolean"', '"type": "number"'):
        assert feature in text, feature
    assert any("." in e["tool"]["name"] for e in catalog) and any("_" in e["tool"]["name"] for e in catalog)


def test_catalog_shares_nothing_with_the_benchmark():
    bench_tools = json.loads((BENCH / "toolcall_tools.json").read_text())
    bench_questions = {json.loads(line)["question"].lower() for line in (BENCH / "toolcall_cases.jsonl").open()}
    catalog = toolcalls.load_catalog()
    assert not {t["name"] for t in bench_tools} & {e["tool"]["name"] for e in catalog}
    made = recipe.toolcall_cases(per_question=3)
    assert not {c["question"].lower() for c in made} & bench_questions


def test_no_answer_trained_on_is_a_chat_benchmark_question():
    import importlib.util
    import sys

    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("chat_suite_for_test", BENCH / "chat_suite.py")
        chat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(chat)
        import agent_tasks
    finally:
        sys.path.remove(str(BENCH))
    chat_asked = {q.lower() for q, _ in chat.QUESTIONS}
    asked = chat_asked | {t[0].lower() for t in agent_tasks.TASKS}
    assert not {q.lower() for q, _ in recipe.ANSWERS} & asked
    for country in curriculum.CAPITALS:
        assert not any(country.lower() in q for q in asked), country
    # the curriculum may share a text with the agent suite's dev tasks, never with its held-out
    # ones (test_learn.py) nor with the chat suite
    tasks = curriculum.generate(400, seed=0, exclude=curriculum.agent_heldout())
    assert not {t.task.lower() for t in tasks} & chat_asked
    # nor does the plain model's distilled answer to one: every chat prompt is a question of its own
    distilled = {r["messages"][-2]["content"].lower() for r in distill.load()}
    assert not distilled & asked
    for country in ("France", "Japan", "Italy", "Germany", "Spain", "United Kingdom"):
        assert not any(f"capital of {country.lower()}" in q for q in distilled), country


def test_distilled_rows_are_the_apps_prompts_answered():
    rows = distill.load()
    kinds = {r["meta"]["family"] for r in rows}
    assert kinds == {"chat", "code", "summarize", "translate"}
    asked = {json.dumps(m) for _, m, _ in app_distill.requests()}
    for r in rows:
        *messages, said = r["messages"]
        assert json.dumps(messages) in asked and said["role"] == "assistant" and said["content"].strip()
        assert r["meta"]["source"] == "distill"
    code = [r for r in rows if r["meta"]["family"] == "code"]
    assert code and all(r["messages"][0]["content"] == CODE_SYSTEM for r in code)
    data_sources = {r["meta"]["source"] for r in recipe.training_data(n_tasks=4)}
    assert data_sources == {"curriculum", "toolcall", "distill"}


def test_check_says_what_is_wrong_with_an_entry():
    good = json.loads(json.dumps(toolcalls.load_catalog()[0]))
    assert toolcalls.check([good]) == []
    undefined = json.loads(json.dumps(good))
    undefined["questions"][0]["q"] += " {nowhere}"
    wrong_type = json.loads(json.dumps(good))
    wrong_type["questions"][0]["args"] = {"no_such_parameter": 1}
    bad_schema = json.loads(json.dumps(good))
    bad_schema["tool"]["parameters"] = {"type": "object", "properties": {"x": {"type": "not-a-type"}}}
    for entry, says in ((undefined, "undefined slots ['nowhere']"), (wrong_type, "no_such_parameter"),
                        (bad_schema, "parameters:")):
        problems = toolcalls.check([entry])
        assert problems and says in problems[0], problems


def test_fill_says_values_and_keeps_their_types():
    entry = {"tool": {"name": "t"}, "slots": {"n": [3], "xs": [["a", "b", "c"]],
                                               "mode": [{"say": "fast please", "value": "FAST"}]},
             "questions": []}
    q = {"q": "run {n} of {xs} {mode}", "args": {"count": "{n}", "items": "{xs}", "mode": "{mode}", "note": "n={n}"}}
    case = toolcalls.fill(entry, q, random.Random(0))
    assert case["question"] == "Run 3 of a, b and c fast please"
    assert case["arguments"] == {"count": 3, "items": ["a", "b", "c"], "mode": "FAST", "note": "n=3"}


def test_recipe_examples_are_the_prompt_and_the_call(tmp_path):
    cases = recipe.toolcall_cases()
    assert len(cases) >= 450 and {c["tool_choice"] for c in cases} == {"auto", "required"}
    beside = [c for c in cases if c.get("others")]
    assert 0.15 < len(beside) / len(cases) < 0.35
    sample = [c for c in cases if not c.get("others")][:3] + beside[:3]
    rows = curriculum.toolcall_examples(sample, tmp_path)
    for case, row in zip(sample, rows, strict=True):
        system, user, call = (m["content"] for m in row["messages"])
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert user == case["question"]
        for tool in [case["tool"], *case.get("others", [])]:
            assert json.dumps(tool["name"]) in system
        action = parse_action(call)
        assert action.is_call and (action.name, action.arguments) == (case["tool"]["name"], case["arguments"])


def test_reply_examples_answer_without_a_call(tmp_path):
    cases = recipe.reply_cases()
    answered = [c for c in cases if c["reply"] != recipe.REFUSAL]
    refused = [c for c in cases if c["reply"] == recipe.REFUSAL]
    assert len(answered) == 2 * len(recipe.ANSWERS) and len(refused) >= 50
    for c in refused:  # no tool named: names in the refusal leaked into chat as made-up tools
        assert not any(t["name"] in c["reply"] for t in c["others"])
    sample = answered[:2] + refused[:2]
    rows = curriculum.toolcall_examples(sample, tmp_path)
    for case, row in zip(sample, rows, strict=True):
        system, user, reply = (m["content"] for m in row["messages"])
        assert user == case["question"] and reply == case["reply"] and not parse_action(reply).is_call
        assert all(json.dumps(t["name"]) in system for t in case["others"])
        assert row["meta"]["tool_choice"] == "auto"


def test_the_shipped_adapter_is_one_spec_away(tmp_path):
    store = ModelStore(tmp_path / "models")
    assert (BUNDLED_ADAPTERS / KERNEL_ADAPTER / "adapter.gguf").is_file()
    assert store.weights("default") == (store.resolve("default"), None)  # the plain model, for chat
    assert store.agent_spec("default") == "default+lora:llmos" == store.agent_spec("smollm2")  # for processes
    for spec in ("default-q8_0", "default-q4_1", "default+lora:mine", "gemma-3-270m", "x.gguf"):
        assert store.agent_spec(spec) == spec
    path, runtime = store.weights("default+lora:llmos")
    assert path == store.adapters_dir() / KERNEL_ADAPTER / "merged-q8_0.gguf" and runtime is None
    assert path.read_bytes()[:4] == b"GGUF" and path.stat().st_size > 100_000_000
    assert (store.adapters_dir() / KERNEL_ADAPTER / "adapter.gguf").stat().st_size == \
        (BUNDLED_ADAPTERS / KERNEL_ADAPTER / "adapter.gguf").stat().st_size  # copied from the bundle
    assert KERNEL_ADAPTER in store.adapter_names()
    entries = {e.spec: e for e in store.entries()}
    assert "llmos's own adapter" in entries["default+lora:llmos"].description
    assert "processes decode with default+lora:llmos" in entries["default"].description
    with pytest.raises(DriverError) as info:
        store.adapter_dir(KERNEL_ADAPTER, must_exist=False)  # `llmos learn train --out llmos`
    assert info.value.code == "EEXIST" and "choose another name" in str(info.value)


def test_model_prepare_default_also_folds_the_adapter_its_processes_run_on(capsys, home):
    from llmos.shell.cli import main

    assert main(["model", "prepare", "default"]) == 0
    plain, tuned = capsys.readouterr().out.strip().splitlines()
    assert plain.startswith("default: ready at ") and plain.endswith(".Q8_0.gguf")
    assert tuned.startswith("default+lora:llmos: ready at ") and "merged-q8_0.gguf" in tuned


def test_a_new_bundled_adapter_replaces_the_installed_one_and_its_folded_copy(tmp_path):
    """An upgrade ships an adapter of the very same size; its copy is compared by content and
    made anew, newer than the weights folded from the old one (which are then folded again)."""
    import os

    store = ModelStore(tmp_path / "models")
    installed = store.adapter_dir(KERNEL_ADAPTER) / "adapter.gguf"
    bundled = (BUNDLED_ADAPTERS / KERNEL_ADAPTER / "adapter.gguf").read_bytes()
    assert installed.read_bytes() == bundled
    installed.write_bytes(b"\0" * len(bundled))  # the old adapter, same size
    folded = installed.with_name("merged-q8_0.gguf")
    folded.write_bytes(b"GGUF old")
    os.utime(installed, (1, 1))
    store.adapter_dir(KERNEL_ADAPTER)
    assert installed.read_bytes() == bundled and installed.stat().st_mtime >= folded.stat().st_mtime


def test_learn_curriculum_can_add_the_function_calls(capsys, home, tmp_path):
    from llmos.shell.cli import main

    out = tmp_path / "data.jsonl"
    assert main(["learn", "curriculum", "--out", str(out), "-n", "5", "--toolcalls", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.open()]
    assert got["written"] == len(rows) == 5 + got["toolcalls"] + got["own_answers"] and got["toolcalls"] >= 450
    assert {r["meta"]["source"] for r in rows} == {"curriculum", "toolcall", "distill"}
    assert got["own_answers"] == len(distill.load())
    calls = [r for r in rows if r["meta"]["source"] == "toolcall"]
    answered = [r for r in calls if not r["messages"][-1]["content"].startswith("<tool_call>")]
    assert len(answered) == len(recipe.reply_cases())  # the same mix the shipped adapter learned
    assert main(["learn", "curriculum", "--out", str(out), "--split", "heldout", "--toolcalls"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmos: EINVAL") and "\n" not in err
