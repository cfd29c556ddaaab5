"""The openai: driver against a real engine (llama-cpp-python's OpenAI-compatible server on the
default GGUF) and a scripted one (failures): same answers as in process, grammar-valid actions,
concurrent processes, and one errno line when the engine fails."""

from __future__ import annotations

import json

import pytest
from fake_engine import FakeEngine
from llmos.drivers.base import DriverError, Sampling
from llmos.drivers.openai import OpenAIDriver, parse_spec
from llmos.drivers.openai.tokens import Estimate, Tokens
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos.syscalls.errno import SyscallError
from servers import free_port, llama_server


@pytest.fixture(scope="module")
def engine(tmp_path_factory, model_store):
    log = tmp_path_factory.mktemp("engine") / "llama-server.log"
    with llama_server(model_store.weights("default")[0], log) as url:  # what `smollm` loads
        yield url


def greedy(n=12, **kw):
    return Sampling(max_tokens=n, temperature=0.0, **kw)


# -- a real engine ----------------------------------------------------------------------------


@pytest.mark.real
def test_complete_and_chat_over_the_engine_equal_the_in_process_driver(home, engine, smollm):
    with Kernel.boot(model=f"openai:{engine}") as k:
        d = k.driver()
        assert isinstance(d, OpenAIDriver) and d.tokens.exact  # the engine's own tokenizer
        for prompt in ("The capital of France is", "1, 2, 3, 4,"):
            remote = k.call("llm.complete", {"prompt": prompt, "max_tokens": 12, "temperature": 0})
            local = smollm.generate(smollm.tokenize(prompt, add_special=True), greedy(12))
            assert remote.text == local.text and remote.completion_tokens == 12
            assert d.tokenize(prompt) == smollm.tokenize(prompt)  # counts in the model's own tokens
        msgs = [{"role": "user", "content": "Say hello."}]
        remote = k.call("llm.chat", {"messages": msgs, "max_tokens": 16, "temperature": 0})
        local = smollm.generate(smollm.tokenize(smollm.format_chat(msgs), add_special=True, parse_special=True),
                                greedy(16))
        assert remote.text == local.text and remote.text.strip()
        rows = k.journal.tail(5)
        assert [r["name"] for r in rows][-1] == "llm.chat" and rows[-1]["tokens_out"] == 16


@pytest.mark.real
def test_streaming_and_stop_strings_over_the_engine(home, engine):
    with Kernel.boot(model=f"openai:{engine}") as k:
        got = []
        r = k.call("llm.complete", {"prompt": "1, 2, 3, 4,", "max_tokens": 30, "temperature": 0, "stop": [" 8"]},
                   stream=got.append)
        assert r.finish_reason == "stop" and "".join(got) == r.text and " 7" in r.text and " 8" not in r.text


@pytest.mark.real
def test_a_process_makes_grammar_valid_tool_calls_on_the_engine(home, engine):
    with Kernel.boot(model=f"openai:{engine}") as k:
        p = k.spawn(task="What is 17*23? Use the calculator.", caps=CapSet.parse(["tool.call"]), max_steps=3,
                    tool_choice="required")
        steps = list(k.run(p.pid))
        actions = [s for s in steps if s.type == "action"]
        assert actions[0].call == "calculator" and isinstance(actions[0].args.get("expression"), str)
        assert any(s.type == "observation" and s.ok for s in steps)
        assert "tool.call" in [r["name"] for r in k.journal.tail(10, pid=p.pid)]
        # the grammar went with the request (llama.cpp's `grammar` field)
        assert k.procs.get(p.pid).state == "exited"


@pytest.mark.real
def test_eight_processes_at_once_over_the_engine(home, engine):
    with Kernel.boot(model=f"openai:{engine}", slots=8) as k:
        caps = CapSet.parse(["sys.*", "tool.call"])
        pids = [k.spawn(task=f"What is {i} plus {i}? Use the calculator.", caps=caps, max_steps=2,
                        max_tokens=200).pid for i in range(8)]
        steps = []
        procs = k.run_many(pids, on_step=steps.append)
        assert all(p.state == "exited" for p in procs), [(p.pid, p.state, p.exit_reason) for p in procs]
        assert not [s for s in steps if s.type == "error"]
        actions = [s.call for s in steps if s.type == "action"]
        assert len(actions) >= 8 and all(c in ("calculator", "reply") or c.startswith("sys.") for c in actions)


# -- failures, on a scripted engine -----------------------------------------------------------


def test_the_grammar_and_sampling_go_with_the_request(home):
    with FakeEngine(["ok"]) as fake:
        d = OpenAIDriver(f"openai:{fake.url}")
        try:
            assert d.model == "fake" and d.n_ctx() == 2048 and not d.tokens.exact
            g = d.generate("hi there", greedy(5, grammar='root ::= "Hello"', stop=["x"]))
            assert g.text == "Hello there." and g.finish_reason == "stop"
            req = fake.requests[-1]
            assert req["grammar"] == 'root ::= "Hello"' and req["structured_outputs"] == {"grammar": req["grammar"]}
            assert req["prompt"] == "hi there" and req["temperature"] == 0 and req["stop"] == ["x"]
            assert req["repeat_penalty"] == 1.0 and req["stream"] is True
        finally:
            d.close()


def test_a_5xx_is_retried_then_answers(home):
    with FakeEngine(["503", "503", "ok"]) as fake:
        d = OpenAIDriver(f"openai:{fake.url}")
        try:
            assert d.generate("hi", greedy()).text == "Hello there."
            assert len(fake.requests) == 3
        finally:
            d.close()


def test_an_engine_that_stays_down_is_eio_in_one_line(home, capsys):
    from llmos.shell.cli import main

    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(DriverError) as e:
        OpenAIDriver(f"openai:{url}")
    assert e.value.code == "EIO" and url in str(e.value)
    rc = main(["--model", f"openai:{url}", "call", "llm.complete", "prompt=hi"])
    err = capsys.readouterr().err.strip()
    assert rc == 5 and err.startswith("llmos: EIO: cannot reach the engine") and "\n" not in err


def test_a_dropped_answer_is_eio_and_a_slow_one_etimedout(home, monkeypatch):
    with FakeEngine(["drop", "503", "503", "503", "503"]) as fake:
        with Kernel.boot(model=f"openai:{fake.url}") as k:
            with pytest.raises(SyscallError) as e:
                k.call("llm.complete", {"prompt": "hi"})
            assert e.value.code == "EIO" and "midway" in e.value.message
            with pytest.raises(SyscallError) as e:
                k.call("llm.complete", {"prompt": "hi"})
            assert e.value.code == "EIO" and "503" in e.value.message
            assert len(k.journal.tail(5)) == 2  # both failures journaled
    monkeypatch.setenv("LLMOS_ENGINE_TIMEOUT", "0.5")
    with FakeEngine(["slow"], slow_s=2.0) as fake:
        with Kernel.boot(model=f"openai:{fake.url}") as k:
            with pytest.raises(SyscallError) as e:
                k.call("llm.complete", {"prompt": "hi"})
            assert e.value.code == "ETIMEDOUT"


def test_a_process_on_a_failing_engine_ends_with_eio_and_keeps_its_conversation(home):
    with FakeEngine(["503"] * 4) as fake:
        with Kernel.boot(model=f"openai:{fake.url}") as k:
            p = k.spawn(task="say hi", caps=CapSet.parse(["sys.time"]))
            steps = list(k.run(p.pid))
            assert steps[-1].errno == "EIO"
            assert k.procs.get(p.pid).exit_reason.startswith("EIO")
            assert [m["kind"] for m in k.memory.messages(p.pid)] == ["task"]


def test_spec_and_estimated_tokens():
    assert parse_spec("openai:http://h:1/v1#m") == ("http://h:1/v1", "m")
    assert parse_spec("openai:https://h/v1/") == ("https://h/v1", None)
    with pytest.raises(DriverError) as e:
        parse_spec("openai:localhost:8080")
    assert e.value.code == "EINVAL"
    t = Tokens(Estimate())
    text = "Hello, world! It's 12345 tokens\n\n  more."
    toks = t.tokenize(text)
    assert t.tk.detokenize(toks) == text and 8 <= len(toks) <= 16
    assert json.dumps(toks)
