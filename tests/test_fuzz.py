"""Schema fuzz: random and mutated calls to every syscall through the dispatcher (hypothesis, seeded).

Valid arguments come from each syscall's own JSON Schema (hypothesis-jsonschema); mutants add
wrong types, huge strings, unicode (lone surrogates too), NUL bytes, deep nesting, unknown
fields and non-objects; names are real, near misses or junk. Whatever comes in: no exception
but SyscallError leaves the dispatcher, every failure carries an Errno and a message, none is a
handler crash ("failed inside the kernel"), and every call is journaled exactly once.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.table import TABLE

BATCHES = 625  # hypothesis examples
PER_BATCH = 16  # calls in each: 10,000 calls in all
REPLY = '{"call": "reply", "args": {"text": "done"}}'  # what the scripted model says, to anything


class HashEmbedder:
    """A deterministic stand-in for MiniLM, so mem.recall runs without torch."""

    loaded = True

    def __init__(self, *a, **kw):
        pass

    def embed(self, texts):
        out = np.zeros((len(texts), 384), np.float32)
        for i, t in enumerate(texts):
            digest = hashlib.sha256(t.encode("utf-8", "replace")).digest()
            out[i, digest[0] % 384] = 1.0
        return out


def _nest(depth: int, kind: str):
    value: object = "bottom"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


strings = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), st.characters(categories=["Cs"]), st.text(max_size=5)),
    st.sampled_from(["", "\x00", "a\x00b", "..", "../../etc/passwd", "/etc/passwd", "\u202e", "💥" * 9, "%s%n",
                     "' OR 1=1 --", "workspace/**", "calculator", "fs.read", "\\", "\r\n", " " * 3]),
    st.integers(5_000, 300_000).map(lambda n: "x" * n),  # huge
)
scalars = st.one_of(
    strings, st.booleans(), st.none(),
    st.integers(-(2**70), 2**70), st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
)
nasty = st.one_of(
    scalars,
    st.tuples(st.sampled_from([3, 50, 200, 600]), st.sampled_from(["list", "dict"])).map(lambda t: _nest(*t)),  # deep
    st.lists(scalars, max_size=5),
    st.dictionaries(st.text(max_size=8), scalars, max_size=4),
)

# calculator expressions: arithmetic on small, huge and float numbers, and token soup
numbers = st.sampled_from(["0", "1", "2", "9", "-1", "0.5", "1e308", "999999**99", "2**0.5"])
operators = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "^", "×", "÷"])
expressions = st.one_of(
    st.recursive(numbers, lambda inner: st.tuples(inner, operators, inner).map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
                 max_leaves=4),
    st.lists(st.sampled_from(["1", "9", "(", ")", "+", "**", "/", " ", "x", "_", "[]", "lambda"]), max_size=12).map("".join),
)


VALID = {name: from_schema(spec.args_schema()) for name, spec in TABLE.items()}  # built once: it is slow


@st.composite
def mutated(draw, spec):
    """One of the syscall's own examples (valid), then one to three mutations."""
    args = dict(draw(st.sampled_from(spec.examples or ({},))))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["set", "set", "drop", "extra", "whole"]))
        if how == "whole":
            return draw(nasty)
        if not isinstance(args, dict):
            return args
        fields = list(spec.args.model_fields)
        if how == "drop" and args:
            args.pop(draw(st.sampled_from(sorted(args))))
        elif how == "extra":
            args[draw(st.text(max_size=12))] = draw(scalars)
        elif fields:
            args[draw(st.sampled_from(fields))] = draw(nasty)
    return args


def _calls_for(name: str):
    out = [VALID[name], mutated(TABLE[name])]
    if name == "tool.call":
        out.append(st.builds(lambda e: {"name": "calculator", "args": {"expression": e}}, expressions))
    return st.tuples(st.just(name), st.one_of(out))


CALLS_FOR = {name: _calls_for(name) for name in TABLE}


junk_names = st.one_of(
    st.sampled_from(["", "fs.raed", "FS.READ", "fs.read\x00", "fs", "fs.", ".read", "proc.spawn.x", "*", "reply",
                     "exit", "x" * 10_000, "\ud800.read"]),
    st.text(max_size=30),
)
CALLS_FOR["junk"] = st.tuples(junk_names, nasty)  # one draw in 29
calls = st.sampled_from(sorted(CALLS_FOR)).flatmap(CALLS_FOR.__getitem__)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("llmos.kernel.memory.embed.MiniLM", HashEmbedder)
        k = Kernel.boot(tmp_path_factory.mktemp("fuzzhome"), driver=ScriptedDriver(default=REPLY))
        p = k.spawn(task="fuzz", caps=CapSet.parse(["fs.*:work/**", "mem.*", "proc.*", "sys.*", "llm.tokenize",
                                                    "tool.call:calculator", "tool.list"]))
        ctxs = [lambda: k.context(), lambda: k.context(pid=p.pid, caps=p.capset, workspace=p.workspace)]
        yield k, ctxs
        k.close()


def test_fuzz_the_dispatcher(fuzzed):
    k, ctxs = fuzzed
    seen: Counter = Counter()

    @settings(max_examples=BATCHES)
    @given(batch=st.lists(st.tuples(st.sampled_from([0, 1]), calls), min_size=PER_BATCH, max_size=PER_BATCH))
    def batch_of_calls(batch):
        last = k.journal.tail(1)
        journaled = [last[0]["id"] if last else 0]  # the id of the last journal row seen
        for who, (name, args) in batch:
            try:
                result = k.call(name, args, ctx=ctxs[who]())
                outcome = None
                assert isinstance(result, TABLE[name].result), (name, type(result))
            except SyscallError as err:
                outcome = err
                assert err.code in set(Errno) and err.message, (name, err)
                assert "failed inside the kernel" not in err.message, (name, args, err.message)
            row = k.journal.tail(1)[0]
            assert row["id"] == journaled[0] + 1, (name, "journaled", row["id"] - journaled[0], "times")
            journaled[0] = row["id"]
            assert row["ok"] == (outcome is None) and row["errno"] == (str(outcome.code) if outcome else None)
            seen["calls"] += 1
            seen[str(outcome.code) if outcome else "ok"] += 1

    batch_of_calls()
    assert seen["calls"] >= BATCHES * PER_BATCH
    assert seen["ok"] > 0 and seen["EINVAL"] > 0 and seen["ENOSYS"] > 0  # valid calls got through, too
    print(f"\nfuzz: {seen['calls']} calls: " + ", ".join(f"{k} {v}" for k, v in seen.most_common() if k != "calls"))


@settings(max_examples=400)
@given(expression=expressions)
def test_fuzz_the_calculator(fuzzed, expression):
    """Tool arguments are a user's too: a bad expression is EINVAL, never a crash inside."""
    k, ctxs = fuzzed
    try:
        k.call("tool.call", {"name": "calculator", "args": {"expression": expression}}, ctx=ctxs[1]())
    except SyscallError as err:
        assert err.code == Errno.EINVAL, (expression, err)
