"""llm.* on the real bundled models through llama.cpp (marked `real`; a few seconds each)."""

from __future__ import annotations

import json

import pytest
from llmos.drivers.base import Sampling
from llmos.kernel import Kernel

pytestmark = pytest.mark.real


def greedy(n=24, **kw):
    return Sampling(max_tokens=n, temperature=0, **kw)


def test_model_info(real_driver):
    info = real_driver.info
    assert info.n_ctx == 4096 and info.n_vocab > 40_000 and info.size_bytes > 50_000_000
    assert info.chat_format in ("chatml", "gemma")


def test_smollm_facts(smollm, gemma):
    assert smollm.info.chat_format == "chatml" and smollm.info.n_vocab == 49152
    assert gemma.info.chat_format == "gemma" and gemma.info.n_vocab == 262144


@pytest.mark.parametrize("text", ["hello world", "Grüße, 世界! 🎉 tabs\tand\nnewlines", "  leading spaces", "x" * 300])
def test_tokenize_detokenize_roundtrip(real_driver, text):
    toks = real_driver.tokenize(text)
    assert toks and real_driver.detokenize(toks) == text


def test_greedy_is_deterministic_and_streaming_matches(real_driver):
    prompt = "The three primary colors are"
    a = real_driver.generate(prompt, greedy())
    pieces = []
    b = real_driver.generate(prompt, greedy(), on_text=pieces.append)
    assert a.text == b.text == "".join(pieces) and a.text.strip()
    assert a.tokens_out == b.tokens_out > 0


def test_greedy_argmax_picks_what_llama_cpps_greedy_sampler_picks(real_driver, monkeypatch):
    """Greedy decoding takes numpy's argmax of the logits (the fast path); llama.cpp's own greedy
    sampler, forced here, gives the same tokens."""
    from llmos.drivers.llama_cpp.sampler import Sampler

    prompt = "List the planets of the solar system in order:"

    def fresh():  # the whole prompt decoded again, as the first time (no prefix kept in any slot)
        for slot in range(real_driver.n_seq):
            real_driver.reset_slot(slot)
        return real_driver.generate(prompt, greedy(48))

    fast = fresh()
    init = Sampler.__init__

    def chain_only(self, *a, **kw):
        init(self, *a, **kw)
        self.argmax = False

    monkeypatch.setattr(Sampler, "__init__", chain_only)
    native = fresh()
    assert fast.text == native.text and fast.tokens_out == native.tokens_out > 0


def test_sampling_under_a_grammar_reaches_its_end_every_time(real_driver):
    """Sampled (not greedy) decoding under a grammar the model does not want to follow: every
    token is rejected, so the sampler scans for the allowed ones and remembers them by the text
    so far, and the next runs start from what it remembered. (Seen: the remembered ids were read
    after the sampling chain had sorted the candidates, so a later run found none allowed:
    EIO "the grammar allows no token here" from the assistant at temperature 0.2.)"""
    want = '<tool_call>[\n{"name": "calculator", "arguments": {"expression": "10 - 4"}}\n]</tool_call>'
    grammar = "root ::= " + __import__("json").dumps(want)
    for seed in range(6):
        s = Sampling(max_tokens=64, temperature=1.0, top_p=0.9, seed=seed, grammar=grammar)
        assert real_driver.generate("Once upon a time, in a land far away,", s).text == want, seed


def test_seeded_sampling_is_repeatable(real_driver):
    s = Sampling(max_tokens=20, temperature=0.9, seed=1234)
    assert real_driver.generate("Once upon a time", s).text == real_driver.generate("Once upon a time", s).text


def test_prefix_reuse_gives_the_same_output_as_a_fresh_slot(real_driver):
    """A slot that kept KV from an earlier, longer prompt must continue like a fresh one.

    llama.cpp's CPU kernels are not batch-invariant (Gemma's Q4_K path gives different floats
    when a prompt is prefilled in one batch or split), so the fresh reference is prefilled the
    way prefix reuse does it: everything but the last token, then the last token alone.
    """
    base = "A list of fruits: apple, banana,"
    real_driver.generate(base + " cherry, and many more words here", greedy(8), slot=0)  # warm slot 0
    warm = real_driver.generate(base, greedy(16), slot=0)
    toks = real_driver.prompt_tokens(base)
    real_driver.reset_slot(1)
    real_driver.generate(toks[:-1], greedy(1), slot=1)
    cold = real_driver.generate(base, greedy(16), slot=1)
    assert warm.text == cold.text
    assert real_driver.slots[0][: len(toks)] == toks


def test_max_tokens_and_stop(real_driver):
    g = real_driver.generate("Count: 1, 2, 3,", greedy(5, ignore_eos=True))
    assert g.tokens_out == 5 and g.finish_reason == "length"
    full = real_driver.generate("Count: 1, 2, 3,", greedy(20, ignore_eos=True)).text
    words = full.split()
    assert len(words) >= 2
    g = real_driver.generate("Count: 1, 2, 3,", greedy(20, stop=[words[1]]))
    assert g.finish_reason == "stop" and g.text == full[: full.index(words[1])]


def test_too_long_prompt_is_efbig(real_driver):
    from llmos.drivers.base import DriverError

    with pytest.raises(DriverError) as info:
        real_driver.generate("word " * 5000, greedy(4))
    assert info.value.code == "EFBIG"


def test_llm_syscalls_on_the_default_model(home, smollm):
    with Kernel.boot(driver=smollm) as k:
        streamed = []
        r = k.call("llm.complete", {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},
                   stream=streamed.append)
        assert "Paris" in r.text and "".join(streamed) == r.text
        r = k.call("llm.chat", {"messages": [{"role": "user", "content": "What is the capital of France?"}],
                                "max_tokens": 24, "temperature": 0})
        assert "Paris" in r.text and r.finish_reason in ("stop", "length")
        t = k.call("llm.tokenize", {"text": "hello world"})
        assert t.count == len(t.tokens) == 2
        row = k.journal.tail(3)[0]
        assert row["name"] == "llm.complete" and row["tokens_out"] > 0 and row["tokens_in"] > 0


def test_gemma_chat_uses_gemma_turns(gemma):
    text = gemma.format_chat([{"role": "user", "content": "Hi"}])
    assert "<start_of_turn>user" in text and text.rstrip().endswith("<start_of_turn>model")
    g = gemma.generate(gemma.tokenize(text, add_special=True, parse_special=True), greedy(8))
    assert g.tokens_out > 0


def test_gemma_complete_through_the_kernel(home, gemma):
    with Kernel.boot(driver=gemma) as k:
        r = k.call("llm.complete", {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0})
        assert r.completion_tokens > 0 and r.text.strip()


def test_every_decode_runs_on_one_thread(smollm, gemma, monkeypatch):
    """Whoever calls, from whichever thread and on whichever model, llama_decode runs on the
    process's one decode thread (a second decoding thread slows every decode ~2.6x)."""
    import threading

    from llmos.drivers import llama_cpp

    L, seen = llama_cpp.lib(), set()
    real = L.llama_decode

    def recording(ctx, batch):
        seen.add(threading.get_ident())
        return real(ctx, batch)

    monkeypatch.setattr(L, "llama_decode", recording)
    smollm.generate("Hello", greedy(3))
    worker = threading.Thread(target=lambda: gemma.generate("Hello", greedy(3)))
    worker.start()
    worker.join()
    assert len(seen) == 1 and threading.get_ident() not in seen and worker.ident not in seen


def test_decode_thread_hands_back_results_and_errors():
    import threading

    from llmos.drivers.llama_cpp import decode_thread

    dt = decode_thread()
    assert dt.call(threading.get_ident) != threading.get_ident()
    assert dt.call(lambda: dt.call(threading.get_ident)) == dt.call(threading.get_ident)  # no deadlock
    with pytest.raises(ZeroDivisionError):
        dt.call(lambda: 1 / 0)


def test_a_closed_driver_fails_with_an_errno_instead_of_reading_freed_memory(model_store):
    """A scheduler still ticking after its driver closed (a kernel a test never closed) called
    llama.cpp on the freed context and crashed the interpreter (a segfault in make test)."""
    from llmos.drivers.base import DriverError
    from llmos.drivers.loader import open_driver

    d = open_driver("default", model_store, n_ctx=512, n_seq=1)
    d.generate(d.tokenize("Hello", add_special=True), greedy(2))
    d.close()
    assert d.slot_bytes(0) == 0
    with pytest.raises(DriverError) as err:
        d.generate([1, 2, 3], greedy(2))
    assert err.value.code == "EIO"


def test_the_distilled_answers_are_what_the_plain_model_says(home, smollm):
    """kernel/learn/data/distilled.jsonl (the recipe's anchor to the untuned model) is that
    model's greedy answer to each prompt as the apps send it: regenerate it if the model changes."""
    from llmos.apps import distill as app_distill
    from llmos.kernel.learn import distill

    rows = distill.load()
    fields = {json.dumps(m): f for _, m, f in app_distill.requests()}
    sample = [rows[i] for i in range(0, len(rows), max(1, len(rows) // 6))][:6]
    same = 0
    with Kernel.boot(driver=smollm) as k:
        for row in sample:
            *messages, said = row["messages"]
            r = k.call("llm.chat", {"messages": messages, **fields[json.dumps(messages)], "temperature": 0})
            same += r.text.strip() == said["content"]
    assert same >= len(sample) - 1, f"{same} of {len(sample)} distilled answers are what the model says now"
