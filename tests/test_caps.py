from __future__ import annotations

import pytest
from llmos.syscalls.caps import ROOT, Capability, CapSet


def test_names_and_families():
    caps = CapSet.parse(["fs.read", "llm.*"])
    assert caps.allows("fs.read", "a.txt")
    assert caps.allows("llm.chat")
    assert not caps.allows("fs.write", "a.txt")
    assert not caps.allows("sys.info")
    assert ROOT.allows("anything.at_all", "x")
    assert caps.names_allowed(["fs.read", "fs.write", "llm.chat"]) == ["fs.read", "llm.chat"]


@pytest.mark.parametrize(
    "cap,scope,ok",
    [
        ("fs.write:out/*.md", "out/a.md", True),
        ("fs.write:out/*.md", "out/sub/a.md", False),
        ("fs.write:out/**", "out/sub/a.md", True),
        ("fs.write:out/**/*.md", "out/a.md", True),
        ("fs.write:out/*.md", "out/a.txt", False),
        ("fs.read:workspace/**", "anything/at/all.txt", True),
        ("fs.read:workspace/**", ".", True),
        ("tool.call:calculator", "calculator", True),
        ("tool.call:calculator", "shell", False),
        ("fs.read:notes.txt", None, False),
    ],
)
def test_scopes(cap, scope, ok):
    assert Capability.parse(cap).allows(cap.split(":")[0], scope) is ok


@pytest.mark.parametrize("bad", ["", "FS.READ", "fs read", "fs.read.more"])
def test_bad_capabilities_are_refused(bad):
    with pytest.raises(ValueError):
        Capability.parse(bad)


def test_str_roundtrip():
    caps = CapSet.parse(["fs.read:out/*.md", "mem.*"])
    assert str(caps) == "fs.read:out/*.md, mem.*"


def test_a_wider_glob_is_not_within_a_narrower_one():
    """Found by test_props: a glob was matched against another glob as if it were a path."""
    assert not CapSet.parse(["fs.read:*"]).covers(Capability.parse("fs.read:**"))
    assert not CapSet.parse(["fs.read:a?"]).covers(Capability.parse("fs.read:a*"))
    assert CapSet.parse(["fs.read:*"]).covers(Capability.parse("fs.read:notes.txt"))
    assert str(CapSet.parse(["fs.read:**"]).intersect(CapSet.parse(["fs.read:*"]))) == "fs.read:*"


def test_an_unscoped_grant_is_not_within_a_scoped_one():
    """`tool.*` also allows tool.list (no scope); `tool.*:**` does not, so it cannot hold it."""
    assert not CapSet.parse(["tool.*:**"]).covers(Capability.parse("tool.*"))
    assert not CapSet.parse(["tool.*"]).intersect(CapSet.parse(["tool.*:**"])).allows("tool.list")
