"""The scheduler and KV virtual memory on the real default model (marked `real`).

Exactness, asserted: a process's greedy output does not depend on what runs beside it, on
being preempted and swapped out and in, or on its prefix coming from another slot. It holds
because each slot has its own KV stream (drivers/llama_cpp.py says why: llama.cpp's attention
sums in cell order, and in a shared cache a swapped-in sequence's cells land out of order) and
because SmolLM2's Q8_0 kernels (as its packaged Q4_1's) give each row the same floats whatever
else is in the batch (measured: logits bit-equal alone, in a step of 16 slots, and with the prompt
split into other chunks), and attention over the q8_0 KV takes the same code path whatever the
batch's shape.
The driver here runs with the machine's default thread count, as the kernel's does.

Gemma 3's Q4_K kernels are not invariant to how a prompt is split into batches (prefilling a
prompt token by token gives other floats than in one batch); the scheduler splits prompts
differently when others share the step, so Gemma is not asserted exact here.
"""

from __future__ import annotations

import pytest
from llmos.drivers.base import Sampling
from llmos.drivers.llama_cpp import LlamaCppDriver
from llmos.kernel import Kernel
from llmos.kernel.scheduler import INTERACTIVE, Scheduler

pytestmark = pytest.mark.real

PROMPTS = ["The three primary colors are", "Once upon a time, in a land far away,", "def fibonacci(n):",
           "Water boils at", "My favourite recipe for bread is", "The history of the Roman empire",
           "Dear hiring manager,", "Ten facts about octopuses: 1."]


@pytest.fixture(scope="module")
def driver(model_store):
    d = LlamaCppDriver(model_store.resolve("default"), spec="default", n_ctx=1024, n_seq=3)
    yield d
    d.close()


def greedy(n=32):
    return Sampling(max_tokens=n, temperature=0, ignore_eos=True)


def alone(d, prompt, n=32):
    for s in range(d.n_seq):
        d.reset_slot(s)
    return d.generate(prompt, greedy(n)).text


def test_driver_slot_save_restore_continues_exactly(driver):
    d = driver
    ref = alone(d, PROMPTS[0], 40)
    seq = d.open_seq(PROMPTS[0], greedy(40), slot=0)
    for _ in range(12):
        d.step([seq])
    data, toks = d.save_slot(0), list(d.slots[0])
    assert len(toks) == seq.n_prompt + 11 and len(data) > 0  # the 12th sampled token is pending
    d.generate("Something else entirely takes this slot.", greedy(6), slot=0)  # the slot is reused
    d.restore_slot(2, data, toks)  # and the sequence comes back in another one
    d.attach(seq, 2)
    while not seq.done:
        d.step([seq])
    assert seq.result().text == ref


def run_scheduled(d, tmp_path, **kw):
    for slot in range(d.n_seq):
        d.reset_slot(slot)
    s = Scheduler(d, tmp_path / "swap", ram_budget=200_000, **kw)
    try:
        with d.lock:  # all of them join the first step
            reqs = [s.submit(i, d.tokenize(p, add_special=True), greedy()) for i, p in enumerate(PROMPTS)]
        outs = [s.wait(r).text for r in reqs]
        assert s.tokens_total == len(PROMPTS) * 32
        return outs, reqs, s
    finally:
        s.close()


def test_batched_requests_equal_their_alone_output(driver, tmp_path):
    d = driver
    refs = [alone(d, p) for p in PROMPTS]
    # 8 requests, 3 slots: the rest wait, then take the slots finished ones left
    outs, reqs, s = run_scheduled(d, tmp_path, slice_tokens=1000)
    assert outs == refs and not any(r.preempted for r in reqs)


def test_preempted_requests_resume_with_the_same_tokens(driver, tmp_path):
    """Every request is preempted (slice of 6 steps, 8 requests on 3 slots), swapped out, and
    swapped back into whichever slot is free, many times over; the KV images spill to disk
    past a 200 kB RAM budget. Each continues exactly as if it had run alone.

    (The house issue saw 1 of 4 requests diverge from its solo output under 19 swaps. That was
    cell placement, not the scheduler: in one KV cache shared by all slots a swapped-in
    sequence's cells land in holes, out of position order, and attention sums in cell order.
    With one KV stream per slot this holds exactly, here under more than 19 swaps.)"""
    d = driver
    refs = [alone(d, p) for p in PROMPTS]
    outs, reqs, s = run_scheduled(d, tmp_path, slice_tokens=6)
    assert all(r.preempted >= 2 for r in reqs) and s.swaps_in >= 19, s.swaps_in
    assert outs == refs


def test_long_contexts_batched_equal_their_alone_output(driver):
    """Past 512 cells llama.cpp's attention has other code paths for f16 KV (split across
    threads for a lone query, tiled for many), chosen by the batch's shape: with f16 KV 2 of
    these 3 (5 of 9 in a longer run) diverged from their alone output. The q8_0 KV keeps one
    path for every shape."""
    import random

    words = ("river copper owl bread violin harbour lantern meadow engine pepper glacier orchard thunder "
             "marble pigeon canyon ribbon saddle walnut comet").split()

    def prompt(seed):
        r = random.Random(seed)
        return " ".join(" ".join(r.choice(words) for _ in range(r.randint(5, 12))).capitalize() + "."
                        for _ in range(70)) + "\nIn summary,"

    d = driver
    prompts = [prompt(i) for i in range(3)]
    refs = [alone(d, p, 48) for p in prompts]
    seqs = [d.open_seq(p, greedy(48), slot=i) for i, p in enumerate(prompts)]
    assert min(s.n_prompt for s in seqs) > 600
    while not all(s.done for s in seqs):
        d.step(seqs)
    assert [s.result().text for s in seqs] == refs


def test_shared_prefix_gives_the_same_output_as_unshared(driver):
    d = driver
    system = "You are a helpful assistant who answers in one short sentence. " * 4
    a, b = system + "Q: What is 2+2? A:", system + "Q: Name a color. A:"
    ref = alone(d, b)
    d.generate(a, greedy(4), slot=0)
    shared = d.generate(b, greedy(), slot=1)  # slot 1 copies the system prompt's KV from slot 0
    n = len(d.tokenize(system, add_special=True)) - 1
    assert n > 40 and d.slots[1][:n] == d.slots[0][:n]
    assert shared.text == ref


def test_processes_run_concurrently_through_the_scheduler_with_quotas(home, smollm):
    with Kernel.boot(driver=smollm) as k:
        from llmos.syscalls.caps import CapSet

        # a task no reply does in 4 tokens: each process runs into its quota
        pids = [k.spawn(task=f"write a poem of ten lines about the sea, number {i}", caps=CapSet.parse(["sys.*"]),
                        max_tokens=4).pid for i in range(3)]
        procs = k.run_many(pids)
        assert all(p.state == "exited" and p.exit_status == 122 and "token quota" in p.exit_reason for p in procs)
        assert all(p.spent.tokens <= 4 for p in procs)
        assert k.scheduler.steps > 0 and k.scheduler.tokens_total >= 4
        assert k.router.priority(0) == INTERACTIVE
        victim = k.spawn(task="count to a thousand", caps=CapSet.parse(["sys.*"]))
        k.procs.request_kill(victim.pid)
        (p,) = k.run_many([victim.pid])
        assert p.state == "killed"


def test_llmos_batch_and_top(home, tmp_path, capsys):
    from llmos.shell.cli import main

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"prompt": "The capital of France is", "max_tokens": 6}\n'
                    '{"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 6, "id": "x"}\n'
                    '{"prompt": "1, 2, 3,", "max_tokens": 6}\n')
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(jobs), "--out", str(out), "--temperature", "0"]) == 0
    import json

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2] and rows[1]["id"] == "x"
    assert "Paris" in rows[0]["text"] and all(r["completion_tokens"] > 0 for r in rows)
    capsys.readouterr()
    assert main(["top", "--once"]) == 0
    frame = capsys.readouterr().out
    assert "PID" in frame and "STATE" in frame and "model" in frame


def test_sixteen_processes_at_once_on_two_slots(home, smollm):
    """16 agent processes run at once on the default model with 2 slots: the scheduler swaps
    them in and out; every one ends, every action is valid and granted."""
    from llmos.syscalls.caps import CapSet

    with Kernel.boot(driver=smollm) as k:
        caps = CapSet.parse(["sys.*", "tool.call"])
        pids = [k.spawn(task=f"What is {i} plus {i}? Use the calculator.", caps=caps, max_steps=2,
                        max_tokens=300).pid for i in range(16)]
        peak, steps = [0], []

        def on_step(step):
            steps.append(step)
            st = k.scheduler.stats.current
            peak[0] = max(peak[0], st.get("slots_busy", 0) + st.get("waiting", 0))

        procs = k.run_many(pids, on_step=on_step)
        assert all(p.state == "exited" for p in procs), [(p.pid, p.state, p.exit_reason) for p in procs]
        assert not [s for s in steps if s.type == "error"]
        actions = [s.call for s in steps if s.type == "action"]
        # a granted syscall, the granted tool by its own name, or an answer
        assert actions and all(c in ("calculator", "reply") or c.startswith("sys.") for c in actions)
        s = k.scheduler
        assert s.swaps_out > 0 and s.swaps_in > 0  # 16 processes, 2 slots
        assert peak[0] >= 8  # most of them were in the scheduler at the same time


def test_a_failing_sampler_ends_only_its_own_request(driver, tmp_path, monkeypatch):
    """A sequence whose sampling fails (say, a grammar with no allowed token) ends with that
    error; the others in the same steps go on to the end."""
    from llmos.drivers.base import DriverError

    real = LlamaCppDriver._advance

    def advance(self, s, idx):
        if s.sampling.max_tokens == 7:  # the marked request
            raise DriverError("EIO", "the grammar allows no token here")
        return real(self, s, idx)

    monkeypatch.setattr(LlamaCppDriver, "_advance", advance)
    d = driver
    for slot in range(d.n_seq):
        d.reset_slot(slot)
    s = Scheduler(d, tmp_path / "swap")
    try:
        with d.lock:
            good = s.submit(1, d.tokenize(PROMPTS[0], add_special=True), greedy(20))
            bad = s.submit(2, d.tokenize(PROMPTS[1], add_special=True), greedy(7))
        with pytest.raises(DriverError, match="no token"):
            s.wait(bad)
        assert s.wait(good).tokens_out == 20
        with pytest.raises(DriverError, match="no token"):  # the driver alone says the same
            d.generate(PROMPTS[1], greedy(7))
    finally:
        s.close()
