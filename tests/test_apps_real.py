"""The built-in apps on the embedded model (SmolLM2-135M), checked for what a user notices:
a summary shorter than its input that keeps its key terms, a translation that is not its input,
a code file that parses. Not the exact text."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from llmos.apps.builtin.common import key_terms
from llmos.apps.launch import launch, run_code_app
from llmos.apps.registry import find

pytestmark = pytest.mark.real

ARTICLE = (
    "Honeybees are important pollinators for many crops. A honeybee colony has one queen, thousands of "
    "female worker bees and a few hundred male drones. Worker bees collect nectar and pollen from flowers "
    "and bring them back to the hive. They turn the nectar into honey, which the colony eats during the "
    "winter. In recent years many beekeepers have lost colonies to mites, pesticides and disease. "
    "Scientists are studying how to protect honeybees, because farmers depend on them to pollinate "
    "apples, almonds and many other crops."
)


def run(k, name: str, task: str, files: dict[str, str] | None = None) -> tuple[int, str, Path]:
    app = find(k.home, name)
    p = launch(k, name, task)
    for rel, text in (files or {}).items():
        (Path(p.workspace) / rel).write_text(text)
    status, text = run_code_app(k, app, p)
    return status, text, Path(p.workspace)


def test_summarize_is_shorter_and_keeps_key_terms(real_kernel):
    status, text, _ = run(real_kernel, "summarize", "bees.txt --words 40", {"bees.txt": ARTICLE})
    print(f"\n[summary] {text}")
    assert status == 0 and "own sentences" not in text  # the model wrote it
    assert len(text) < len(ARTICLE)
    assert set(key_terms(ARTICLE)) & set(text.lower().replace(".", " ").split())


def test_summarize_long_input_goes_through_map_reduce(real_kernel):
    long = "\n\n".join([ARTICLE] * 30)  # ~2,600 words: far more than one prompt's share of the window
    status, text, _ = run(real_kernel, "summarize", "long.txt --words 50", {"long.txt": long})
    print(f"\n[long summary] {text}")
    assert status == 0 and len(text) < len(ARTICLE)
    rows = [r for r in real_kernel.journal.tail(200) if r["name"] == "llm.chat"]
    assert len(rows) >= 3  # the parts, then their combination
    assert "bee" in text.lower()


def test_translate_differs_from_its_input(real_kernel):
    source = "Good morning. The weather is nice today."
    status, text, _ = run(real_kernel, "translate", json.dumps(source) + " --to French")
    print(f"\n[translation] {text}")
    assert status == 0 and text.strip() and text.strip().lower() != source.lower()


def test_code_file_parses(real_kernel):
    status, text, _ = run(real_kernel, "code", '"a function that returns the largest number in a list" --out largest.py')
    print(f"\n[code] {text}")
    assert status == 0 and "wrote largest.py" in text
    ast.parse((real_kernel.workspace / "largest.py").read_text())
