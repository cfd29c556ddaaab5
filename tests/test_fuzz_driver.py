"""Driver faults: whatever code a driver fails with, a syscall fails with an Errno, journaled,
and a process's loop ends with a reason instead of raising (hypothesis, seeded)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmos.drivers.base import DriverError
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import Errno, SyscallError

# codes drivers use today, codes outside the vocabulary, and junk
codes = st.one_of(st.sampled_from([*Errno, "ENOSPC", "EAGAIN", "ENOMEM", "EBUSY", "", "eio", "E" * 300]),
                  st.text(max_size=12))
where = st.sampled_from(["tokenize", "format_chat", "open_seq", "step"])


class FaultyDriver(ScriptedDriver):
    """Scripted, but the next call to `where` fails with DriverError(code)."""

    def __init__(self):
        super().__init__(default='{"call": "reply", "args": {"text": "done"}}')
        self.fault: tuple[str, str] | None = None

    def _maybe_fail(self, name: str) -> None:
        if self.fault and self.fault[0] == name:
            raise DriverError(self.fault[1], f"injected {self.fault[1]!r} in {name}")

    def tokenize(self, text, **kw):
        self._maybe_fail("tokenize")
        return super().tokenize(text, **kw)

    def format_chat(self, messages, **kw):
        self._maybe_fail("format_chat")
        return super().format_chat(messages, **kw)

    def open_seq(self, prompt, sampling, **kw):
        self._maybe_fail("open_seq")
        return super().open_seq(prompt, sampling, **kw)

    def step(self, seqs, **kw):
        self._maybe_fail("step")
        return super().step(seqs, **kw)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    d = FaultyDriver()
    k = Kernel.boot(tmp_path_factory.mktemp("faulthome"), driver=d)
    yield k, d
    k.close()


CALLS = [("llm.complete", {"prompt": "hi"}), ("llm.chat", {"messages": [{"role": "user", "content": "hi"}]}),
         ("llm.tokenize", {"text": "hi"})]


@settings(max_examples=300)
@given(call=st.sampled_from(CALLS), fault=st.tuples(where, codes))
def test_a_driver_failure_is_an_errno_and_journaled(faulty, call, fault):
    k, d = faulty
    d.fault = fault
    before = k.journal.tail(1)[0]["id"] if k.journal.tail(1) else 0
    try:
        k.call(*call)
        failed = None
    except SyscallError as err:
        failed = err
        assert err.code in set(Errno) and err.message
    row = k.journal.tail(1)[0]
    assert row["id"] == before + 1 and row["ok"] == (failed is None)


@settings(max_examples=60)
@given(fault=st.tuples(where, codes))
def test_a_driver_failure_ends_a_process_with_a_reason(faulty, fault):
    k, d = faulty
    d.fault = fault
    p = k.spawn(task="say done", caps=CapSet.parse(["fs.read"]))
    steps = list(k.run(p.pid))
    assert steps and k.procs.get(p.pid).state in ("exited", "killed")
    assert all(s.errno is None or s.errno in set(Errno) for s in steps), [s.errno for s in steps]
