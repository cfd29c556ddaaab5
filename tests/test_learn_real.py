"""The transformers driver and the learning module on the real default model (SmolLM2-135M).

Parity: the same weights (the default model as an F16 GGUF, `default-f16`, converted once from
the packaged file; transformers reads it into float32, llama.cpp computes on the f16 weights
with an f16 KV cache) decode the same greedy tokens. They are not bit-identical computations:
llama.cpp rounds each activation row to f16 before a matmul and accumulates in another order,
so a greedy pick can flip where the two best logits are within a rounding of each other. The
test asserts exactly that: for each of 8 prompts the first 32 tokens agree, or the first token
where they do not is a near-tie in transformers' own logits (|margin| < NEAR_TIE); it prints
where each prompt diverged. (On the Q8_0 file, where llama.cpp also rounds activations to 8
bits, 3 of 8 agreed for 32 tokens and the 5 others split at margins 0.003-0.22.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from llmos.drivers.base import Sampling

pytestmark = pytest.mark.real

NEAR_TIE = 0.25  # logits; the step-to-step difference between the two backends seen here is ~0.05
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at",
    "<|im_start|>user\nWhat is 17 times 23?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nName three fruits.<|im_end|>\n<|im_start|>assistant\n",
    "In 1969, the first humans",
]


@pytest.fixture(scope="module")
def q8(model_store):
    return model_store.resolve("default")


@pytest.fixture(scope="module")
def f16(model_store):
    return model_store.resolve("default-f16")


@pytest.fixture(scope="module")
def hf(q8):
    import torch
    from llmos.drivers.hf import HFDriver

    torch.set_num_threads(1)
    d = HFDriver(q8, n_seq=2, n_ctx=2048)
    yield d
    d.close()


def test_hf_parity_with_llama_cpp(f16, capsys):
    import torch
    from llmos.drivers.hf import HFDriver
    from llmos.drivers.llama_cpp import LlamaCppDriver

    ll = LlamaCppDriver(f16, n_seq=1, n_ctx=2048, kv_type="f16")
    hf = HFDriver(f16, n_seq=1, n_ctx=2048)
    greedy = Sampling(max_tokens=33, temperature=0, ignore_eos=True)  # the last sampled token is not kept in history
    notes = []
    try:
        for prompt in PROMPTS:
            toks = ll.tokenize(prompt, add_special=True, parse_special=True)
            assert hf.tokenize(prompt, add_special=True, parse_special=True) == toks, prompt
            seq_ll = ll.open_seq(toks, greedy)
            while not seq_ll.done:
                ll.step([seq_ll])
            a = seq_ll.history[len(toks):]
            seq_hf = hf.open_seq(toks, greedy)
            while not seq_hf.done:
                hf.step([seq_hf])
            b = seq_hf.history[len(toks):]
            n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            if n is None:
                assert len(a) == len(b) == 32
                notes.append(f"agree {len(a)} tokens: {prompt[:30]!r}")
                continue
            # first divergence: both backends saw the same tokens; transformers' margin there
            with torch.inference_mode():
                logits = hf.model(torch.tensor([toks + a[:n]])).logits[0, -1]
            margin = float(logits[b[n]] - logits[a[n]])
            notes.append(f"diverge at token {n} ({hf.detokenize([a[n]])!r} vs {hf.detokenize([b[n]])!r}, "
                         f"margin {margin:.3f}): {prompt[:30]!r}")
            assert abs(margin) < NEAR_TIE, notes[-1]
    finally:
        ll.close()
        hf.close()
    with capsys.disabled():
        print("\n[hf parity] " + "\n[hf parity] ".join(notes))


def test_hf_driver_runs_the_agent_with_the_grammar(hf, home):
    from llmos.kernel import Kernel
    from llmos.syscalls.caps import CapSet

    with Kernel.boot(driver=hf) as k:
        p = k.spawn(task="what is 17 times 23?", caps=CapSet.parse(["tool.call:calculator"]),
                    max_steps=2, tool_choice="required")  # the grammar admits only a calculator call
        steps = list(k.run(p.pid))
    actions = [s for s in steps if s.type == "action"]
    assert actions and actions[0].call == "calculator" and isinstance(actions[0].args.get("expression"), str)
    assert not [s for s in steps if s.type == "error"]


def test_hf_slot_save_restore_continues_exactly(hf):
    greedy = Sampling(max_tokens=12, temperature=0)
    alone = hf.generate("The three primary colors are", greedy).text
    seq = hf.open_seq("The three primary colors are", greedy, slot=0)
    for _ in range(4):
        hf.step([seq])
    saved, tokens = hf.save_slot(0), list(hf.slots[0])
    hf.reset_slot(0)
    hf.restore_slot(1, saved, tokens)
    hf.attach(seq, 1)
    while not seq.done:
        hf.step([seq])
    assert seq.result().text == alone


def test_tiny_training_makes_an_adapter_llama_cpp_loads_and_follows(q8, tmp_path, model_store):
    import torch
    from llmos.drivers.hf import HFDriver
    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.kernel.learn import curriculum
    from llmos.kernel.learn.train import TrainConfig, train

    torch.set_num_threads(1)
    rows = curriculum.run_tasks(curriculum.generate(12, seed=7), tmp_path / "cur")
    out = model_store.adapter_dir("tiny-test", must_exist=False)
    meta = train(rows, out, base="default", model_path=q8, cfg=TrainConfig(epochs=1, lr=3e-3, batch=4, save_every=1))
    assert (out / "adapter.gguf").is_file() and meta["steps"] >= 3 and meta["final_loss"] < meta["first_loss"] * 1.5
    assert "default+lora:tiny-test" in [e.spec for e in model_store.entries()]
    probe = rows[0]["messages"][:2]
    greedy = Sampling(max_tokens=16, temperature=0)
    base = LlamaCppDriver(q8, n_seq=1, n_ctx=2048)
    tuned = LlamaCppDriver(q8, n_seq=1, n_ctx=2048, lora=out / "adapter.gguf")
    tuned_hf = HFDriver(q8, n_seq=1, n_ctx=2048, adapter=out)
    try:
        toks = base.tokenize(base.format_chat(probe), add_special=True, parse_special=True)
        a, b = base.generate(toks, greedy).text, tuned.generate(toks, greedy).text
        c = tuned_hf.generate(toks, greedy).text
    finally:
        base.close()
        tuned.close()
        tuned_hf.close()
    assert a != b, "the adapter changed nothing"
    assert b[:24] == c[:24], (b, c)  # llama.cpp applies the GGUF adapter as peft applies the trained one
    print(json.dumps({"base": a, "tuned": b}))


def test_the_adapter_folded_into_the_weights_is_the_same_model_at_the_base_models_speed(q8, tmp_path, model_store):
    """`default+lora:NAME` loads the default model with the adapter merged into its weights
    (convert.merge_lora): each adapted matrix is W + alpha/rank * B A up to Q8_0's rounding, every
    other tensor is the base model's own, and it answers as the adapter applied at run time does."""
    import gguf
    import numpy as np
    import torch
    from llmos.drivers.hf.lora_gguf import write_adapter
    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.drivers.loader import open_driver

    rng = np.random.default_rng(0)
    rank, alpha, dim = 4, 8.0, 576
    names = [f"layers.{i}.self_attn.v_proj.lora_{w}.weight" for i in range(30) for w in "AB"]

    state = {n: torch.tensor(rng.normal(0, 0.05, (rank, dim) if n.endswith("A.weight") else (192, rank)),
                             dtype=torch.float32) for n in names}
    out = model_store.adapter_dir("fold-test", must_exist=False)
    out.mkdir(parents=True, exist_ok=True)
    assert write_adapter(state, out / "adapter.gguf", alpha=alpha, n_head=9, n_head_kv=3) == 30
    d = open_driver("default+lora:fold-test", model_store, n_ctx=512, n_seq=1)
    runtime = None
    try:
        assert d.adapter is None and d.info.path.endswith("merged-q8_0.gguf")
        merged, base = gguf.GGUFReader(d.info.path), gguf.GGUFReader(str(model_store.resolve("default-f16")))
        m = {t.name: t for t in merged.tensors}
        for t in base.tensors:
            got = gguf.quants.dequantize(m[t.name].data, m[t.name].tensor_type)
            want = gguf.quants.dequantize(t.data, t.tensor_type)
            if t.name == "blk.7.attn_v.weight":
                a = state["layers.7.self_attn.v_proj.lora_A.weight"].numpy()
                b = state["layers.7.self_attn.v_proj.lora_B.weight"].numpy()
                want = want + alpha / rank * (b @ a)
                assert np.abs(alpha / rank * (b @ a)).max() > 0.01  # a change far above the rounding
            if t.name in ("blk.7.attn_v.weight", "blk.7.attn_q.weight", "token_embd.weight"):
                step = np.abs(want).max(axis=-1, keepdims=True) / 127  # one Q8_0 step per row, at most
                assert (np.abs(got - want) <= step + 1e-3).all(), t.name
        runtime = LlamaCppDriver(q8, n_ctx=512, n_seq=1, lora=out / "adapter.gguf")
        greedy = Sampling(max_tokens=1, temperature=0)
        for prompt in PROMPTS[:4]:
            assert d.generate(prompt, greedy).text == runtime.generate(prompt, greedy).text, prompt
        merged_path = Path(d.info.path)
        made = merged_path.stat().st_mtime_ns
        assert model_store.prepare_merged("default", "fold-test") == merged_path
        assert merged_path.stat().st_mtime_ns == made  # made once
        os.utime(out / "adapter.gguf")  # trained again under the same name: folded again
        model_store.prepare_merged("default", "fold-test")
        assert merged_path.stat().st_mtime_ns > made and not list(out.glob("*.partial"))
    finally:
        d.close()
        if runtime is not None:
            runtime.close()
