"""Walk the table (as datasette walks its hooks): every syscall has a doc, schemas and a test."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
from llmos.syscalls.table import TABLE

TESTS = Path(__file__).parent


def _test_sources() -> str:
    return "\n".join(p.read_text() for p in TESTS.glob("test_*.py") if p.name != "test_table.py")


def test_table_is_not_empty():
    assert {"sys.info", "fs.read", "llm.complete"} <= set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_syscall_is_documented_and_schematized(name):
    spec = TABLE[name]
    assert re.fullmatch(r"[a-z]+\.[a-z_]+", name)
    assert spec.doc and len(spec.doc) < 100 and "\n" not in spec.doc
    for schema in (spec.args_schema(), spec.result_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
    assert spec.args_schema().get("additionalProperties") is False
    for example in spec.examples:
        jsonschema.validate(example, spec.args_schema())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_syscall_has_a_test_that_calls_it(name):
    family, verb = name.split(".")
    pattern = rf"""["']{re.escape(name)}["']|\.{family}\.{verb}\("""
    assert re.search(pattern, _test_sources()), f"no test calls {name}"
