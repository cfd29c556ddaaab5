"""Scheduler policy on a fake step driver (fast, deterministic): preemption, aging, cancel, swap.

Nothing here waits on wall time: the driver counts steps and can run a hook at a given step,
and aging runs on a fake clock that the driver advances by one "second" per step."""

from __future__ import annotations

import threading

import pytest
from llmos.drivers.base import DriverError, Generation, ModelInfo, Sampling
from llmos.drivers.engine import decode_thread
from llmos.kernel.scheduler import BATCH, INTERACTIVE, NORMAL, Scheduler, SwapStore


class FakeSeq:
    def __init__(self, tokens, sampling, on_text):
        self.history, self.sampling, self.on_text = list(tokens), sampling, on_text
        self.n_prompt, self.n_out, self.finish, self.slot, self.text = len(tokens), 0, None, -1, ""
        self.error = None

    @property
    def done(self):
        return self.finish is not None

    def close(self):
        pass

    def result(self):
        return Generation(self.text, self.n_prompt, self.n_out, self.finish or "cancelled")


class FakeDriver:
    """Each slot's 'KV' is its token list; the next token is a function of the whole history,
    so a sequence resumed from a wrong image would continue differently."""

    def __init__(self, n_seq=2):
        self.n_seq = n_seq
        self.decoder = decode_thread()
        self.lock = threading.RLock()
        self.now = 0.0  # the fake clock: one second per step
        self.hooks: dict[int, object] = {}  # step number -> called (on the decode thread) before it
        self.slots = [[] for _ in range(n_seq)]
        self.info = ModelInfo("fake", "", 0, 100_000, 100_000, 100, "chatml", "fake")
        self.steps: list[list[int]] = []  # slots in each step

    def prompt_tokens(self, prompt):
        return list(prompt)

    def open_seq(self, prompt, sampling, *, slot=0, on_text=None):
        s = FakeSeq(prompt, sampling, on_text)
        self.attach(s, slot)
        return s

    def attach(self, s, slot):
        self.slots[slot] = list(s.history)
        s.slot = slot

    def step(self, seqs, chunk=None):
        hook = self.hooks.pop(len(self.steps), None)
        if hook is not None:
            hook()
        self.now += 1.0
        self.steps.append([s.slot for s in seqs])
        for s in seqs:
            assert self.slots[s.slot] == s.history, "a sequence ran on a slot holding someone else's KV"
            tok = (sum(s.history) * 31 + len(s.history)) % 97
            s.history.append(tok)
            self.slots[s.slot].append(tok)
            s.n_out += 1
            s.text += f"{tok} "
            if s.on_text:
                s.on_text(f"{tok} ")
            if s.n_out >= s.sampling.max_tokens:
                s.finish = "length"
        return [s for s in seqs if s.done]

    def save_slot(self, slot):
        return repr(self.slots[slot]).encode()

    def restore_slot(self, slot, data, tokens):
        assert eval(bytes(data).decode()) == list(tokens)
        self.slots[slot] = list(tokens)

    def reset_slot(self, slot):
        self.slots[slot] = []

    def slot_bytes(self, slot):
        return len(self.save_slot(slot))


def expected(prompt, n):
    d = FakeDriver(1)
    s = d.open_seq(prompt, Sampling(max_tokens=n))
    while not s.done:
        d.step([s])
    return s.text


@pytest.fixture
def sched(tmp_path):
    made = []

    def make(driver, **kw):
        s = Scheduler(driver, tmp_path / "swap", stats_dir=tmp_path / "run", clock=lambda: driver.now, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_requests_share_steps_and_match_their_alone_output(sched):
    d = FakeDriver(4)
    s = sched(d)
    with d.lock:  # all four join the first step
        reqs = [s.submit(i, [i + 1, 2, 3], Sampling(max_tokens=20), priority=NORMAL) for i in range(4)]
    outs = [s.wait(r).text for r in reqs]
    assert outs == [expected([i + 1, 2, 3], 20) for i in range(4)]
    assert max(len(x) for x in d.steps) == 4 and len(d.steps) == 20


def test_interactive_preempts_batch_which_resumes_exactly(sched):
    d = FakeDriver(1)
    s = sched(d, slice_tokens=1000)
    fg_box = []
    # At the batch request's 4th step, an interactive one arrives (submitted from the decode
    # thread itself, as a caller's submit would land between two steps).
    d.hooks[3] = lambda: fg_box.append(s.submit("fg", [7], Sampling(max_tokens=10), priority=INTERACTIVE))
    long = s.submit("bg", [5, 6], Sampling(max_tokens=300), priority=BATCH)
    out = s.wait(long)
    fg = s.wait(fg_box[0])
    assert out.text == expected([5, 6], 300)  # swapped out and in: the same continuation
    assert fg.text == expected([7], 10)
    assert long.preempted >= 1 and s.swaps_out >= 1 and s.swaps_in >= 1
    # the interactive request ran to its end while the batch one was swapped out
    assert d.steps[3:13] == [[0]] * 10 and len(d.steps) == 310


def test_equal_priorities_round_robin_by_time_slice(sched):
    d = FakeDriver(1)
    s = sched(d, slice_tokens=5)
    with d.lock:
        reqs = [s.submit(i, [i + 3], Sampling(max_tokens=20)) for i in range(3)]
    assert [s.wait(r).text for r in reqs] == [expected([i + 3], 20) for i in range(3)]
    assert all(r.preempted >= 1 for r in reqs[:2]) and s.swaps_in >= 3, [r.preempted for r in reqs]


def test_a_batch_request_does_not_starve_under_constant_interactive_load(sched):
    """One slot, an endless stream of interactive requests (each new one arrives as the last
    ends), and one batch request: aging (one class per aging period, on the fake clock) lifts
    the batch request above the newcomers and it finishes."""
    d = FakeDriver(1)
    s = sched(d, slice_tokens=20, aging_s=5)
    done = threading.Event()
    submitted = []

    def feed():  # keep one interactive request always waiting or running
        if not done.is_set():
            r = s.submit(None, [1], Sampling(max_tokens=30), priority=INTERACTIVE)
            submitted.append(r)
            d.hooks[len(d.steps) + 25] = feed

    with d.lock:
        feed()
        bg = s.submit("bg", [9], Sampling(max_tokens=40), priority=BATCH)
        d.hooks[1] = feed
    out = s.wait(bg)
    done.set()
    assert out.text == expected([9], 40)
    assert len(submitted) >= 3  # it did finish under load, not after it
    for r in submitted:
        s.cancel(r)


def test_aging_does_not_make_a_queue_of_equals_preempt_each_other(sched):
    """80 one-shot batch prompts on 2 slots (what `llmos batch` does): the waiting ones age past
    the running ones, but aging must not preempt mid-slice, or each preempted prompt keeps a
    swapped KV image and memory grows with the queue (house.sh saw +188 MB)."""
    d = FakeDriver(2)
    s = sched(d, slice_tokens=50, aging_s=1)  # the fake clock ages a waiting request one class per step
    with d.lock:
        reqs = [s.submit(None, [i + 1], Sampling(max_tokens=6), priority=BATCH) for i in range(20)]
    assert [s.wait(r).text for r in reqs] == [expected([i + 1], 6) for i in range(20)]
    assert s.swaps_out == 0 and all(r.preempted == 0 for r in reqs)
    assert len(d.steps) == 60  # 20 prompts x 6 tokens, two at a time


def test_check_cancels_one_request_and_the_others_go_on(sched):
    d = FakeDriver(2)
    s = sched(d)
    other = s.submit("b", [2], Sampling(max_tokens=50))
    seen = []

    def check():
        if len(seen) >= 5:
            raise KeyboardInterrupt  # what a kill or a spent quota raises in the caller

    with pytest.raises(KeyboardInterrupt):
        s.generate("a", [1], Sampling(max_tokens=1000), on_text=seen.append, check=check)
    assert s.wait(other).text == expected([2], 50)
    # a later request is admitted after the cancel was reaped: then nothing else is left
    assert s.generate("c", [3], Sampling(max_tokens=2)).text == expected([3], 2)
    assert not s.running and not s.waiting


def test_swap_store_spills_to_disk_past_its_budget(tmp_path):
    st = SwapStore(tmp_path, ram_budget=100)
    st.put("a", [1, 2], b"x" * 80)
    st.put("b", [3], b"y" * 80)
    assert st.get("a").where == "disk" and st.get("b").where == "ram"
    assert bytes(st.get("a").load()) == b"x" * 80 and st.ram_bytes == 80 and st.disk_bytes == 80
    path = st.get("a").path
    st.drop("a")
    assert not path.exists()


def test_the_kernel_runs_the_scripted_driver_through_the_scheduler(kernel, scripted):
    scripted.queue("hello there")
    assert kernel.generate(0, "hi", Sampling(max_tokens=8)).text == "hello there"
    assert kernel.router.started() is not None and kernel.scheduler.steps >= 2


def test_empty_or_bad_prompt_fails_only_that_request(sched):
    class Picky(FakeDriver):
        def open_seq(self, prompt, sampling, *, slot=0, on_text=None):
            if not prompt:
                raise DriverError("EINVAL", "the prompt is empty")
            return super().open_seq(prompt, sampling, slot=slot, on_text=on_text)

    d = Picky(1)
    s = sched(d)
    with pytest.raises(DriverError):
        s.generate(None, [], Sampling(max_tokens=3))
    assert s.generate(None, [4], Sampling(max_tokens=3)).text == expected([4], 3)


def test_processes_decode_on_the_agent_weights_and_chat_on_the_model(home):
    """On `default`, processes' action loops decode with llmos's own adapter folded in and chat
    with the plain model (Kernel.agent_spec): each model its own scheduler, each request on one."""
    from llmos.drivers.scripted import ScriptedDriver
    from llmos.kernel import Kernel
    from llmos.syscalls.caps import CapSet

    chat, agent = ScriptedDriver(), ScriptedDriver()
    agent.info.spec = "default+lora:llmos"
    with Kernel.boot(driver=chat, agent_driver=agent) as k:
        assert k.agent_spec == "default+lora:llmos" and k.driver(agent=True) is agent and k.driver() is chat
        agent.queue("it is done")
        used = []  # the process touches nothing of the chat model (its window's framing neither)
        chat.tokenize = lambda *a, **kw: used.append(a) or ScriptedDriver.tokenize(chat, *a, **kw)
        p = k.spawn(task="say it is done", caps=CapSet.parse(["sys.*"]), max_steps=2)
        list(k.run(p.pid))
        assert k.procs.get(p.pid).reply == "it is done" and agent.prompts and not chat.prompts and not used
        chat.queue("hi back")
        assert k.call("llm.chat", {"messages": [{"role": "user", "content": "hi"}]}).text == "hi back"
        assert len(chat.prompts) == 1 and k.router.scheduler_of(agent) is not k.scheduler
        agent.queue("no call needed")  # llm.chat with tools: function calling, on the agent weights
        tools = [{"type": "function", "function": {"name": "clock", "description": "the time", "parameters": {}}}]
        r = k.call("llm.chat", {"messages": [{"role": "user", "content": "hi"}], "tools": tools})
        assert r.text == "no call needed" and len(chat.prompts) == 1 and len(agent.prompts) == 2
    with Kernel.boot(driver=chat) as k:  # one driver handed in: it serves both
        assert k.agent_spec == k.model_spec and k.driver(agent=True) is chat
    closed = []
    agent.close = lambda: closed.append(agent)
    with Kernel.boot(agent_driver=agent) as k:  # handed in: the caller's to close, the old model's
        k.use_model("gemma-3-270m")
        assert k.agent_spec == "gemma-3-270m"
    assert not closed


def test_agent_weights_follow_the_model_and_the_environment(home, monkeypatch):
    from llmos.kernel import Kernel

    with Kernel.boot(model="default") as k:
        assert k.agent_spec == "default+lora:llmos"
    with Kernel.boot(model="default-q8_0") as k:  # the plain model by name: plain everywhere
        assert k.agent_spec == "default-q8_0"
    with Kernel.boot(model="gemma-3-270m") as k:
        assert k.agent_spec == "gemma-3-270m"
    monkeypatch.setenv("LLMOS_AGENT_MODEL", "default")
    with Kernel.boot(model="smollm2") as k:  # the plain model for processes too: one driver
        assert k.agent_spec == "smollm2"
        k.use_model("gemma-3-270m")  # on `default` only: another model runs everything itself
        assert k.agent_spec == "gemma-3-270m"
    monkeypatch.setenv("LLMOS_AGENT_MODEL", "default+lora:mine")
    with Kernel.boot(model="default") as k:
        assert k.agent_spec == "default+lora:mine"
