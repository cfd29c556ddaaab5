"""The learning module without a model: export's filter and redaction, the curriculum's actions,
the LoRA adapter GGUF's structure, and the GBNF rewrite the transformers driver relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from llmos.drivers.hf.grammar import flatten
from llmos.drivers.hf.lora_gguf import halve, permute, write_adapter
from llmos.kernel import Kernel
from llmos.kernel.learn import curriculum
from llmos.kernel.learn.examples import REDACTED, redact
from llmos.kernel.learn.export import parse_since
from llmos.kernel.learn.train import chatml, encode
from llmos.kernel.loop import model_functions
from llmos.shell.cli import main
from llmos.syscalls.caps import CapSet
from llmos.syscalls.grammar import action_grammar, parse_action, render_call


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SECRET = "sk-proj-abcdefghijklmnop1234567890"


@pytest.fixture
def traces(home, scripted, tmp_path):
    """Five finished processes: replied; replied after an EINVAL; replied after an EACCES;
    spent its steps; replied but rated bad later (in the test). And one still ready."""
    pids = {}
    with Kernel.boot(driver=scripted) as k:
        def proc(name, task, caps, *actions, max_steps=4):
            p = k.spawn(task=task, caps=CapSet.parse(caps), max_steps=max_steps)
            (Path(p.workspace) / "notes.txt").write_text(f"password = hunter2x\nkey {SECRET}\n")
            scripted.queue(*actions)
            list(k.run(p.pid))
            pids[name] = p.pid

        proc("good", f"read notes.txt, my key is {SECRET}", ["fs.read"],
             render_call("fs.read", {"path": "notes.txt"}), "It holds a password.")
        proc("einval", "calculate 1/0", ["tool.call:calculator"],
             render_call("calculator", {"expression": "1/0"}), "I cannot divide by zero.")
        proc("eacces", "read the secret", ["fs.read:public/*"],
             render_call("fs.read", {"path": "secret.txt"}), "Not allowed.")
        proc("quota", "list files", ["fs.list"], render_call("fs.list", {"path": "."}), max_steps=1)
        proc("rated_bad", "say hi", ["fs.read"], "hi")
        pids["ready"] = k.spawn(task="waiting", caps=CapSet.parse(["fs.read"])).pid
    return pids


def test_export_keeps_good_traces_and_redacts_secrets(capsys, traces, tmp_path):
    code, out, _ = run(capsys, "log", str(traces["rated_bad"]), "--rate", "bad")
    assert code == 0 and "rated bad" in out
    code, out, _ = run(capsys, "log", str(traces["eacces"]), "--rate", "good")  # a person's verdict wins
    assert code == 0
    data = tmp_path / "data.jsonl"
    code, out, err = run(capsys, "learn", "export", "--out", str(data), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["finished"] == 5 and got["written"] == 2
    assert got["skipped"] == {"a syscall failed with EINVAL": 1, "did not end by a reply": 1, "rated bad": 1}
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert sorted(r["meta"]["pid"] for r in rows) == sorted([traces["good"], traces["eacces"]])
    good = next(r for r in rows if r["meta"]["pid"] == traces["good"])
    roles = [m["role"] for m in good["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert '"fs.read"' in good["messages"][0]["content"]  # the functions it was offered
    assert parse_action(good["messages"][2]["content"]).name == "fs.read"
    assert good["messages"][-1]["content"] == "It holds a password."
    text = data.read_text()
    assert SECRET not in text and "hunter2x" not in text and REDACTED in text


def test_export_since_and_user_errors(capsys, traces, tmp_path):
    data = tmp_path / "d.jsonl"
    code, out, _ = run(capsys, "learn", "export", "--out", str(data), "--since", "2099-01-01", "--json")
    assert code == 0 and json.loads(out)["finished"] == 0 and data.read_text() == ""
    code, out, err = run(capsys, "learn", "export", "--out", str(data), "--since", "yesterday-ish")
    assert code != 0 and err.startswith("llmos: EINVAL: --since") and "Traceback" not in err
    code, _, err = run(capsys, "log", "999", "--rate", "good")
    assert code != 0 and err.startswith("llmos: ENOENT")
    code, _, err = run(capsys, "learn", "train", str(tmp_path / "missing.jsonl"), "--out", "x")
    assert code != 0 and err.startswith("llmos: ENOENT") and err.count("\n") == 1
    (tmp_path / "bad.jsonl").write_text('{"text": "not chat"}\n')
    code, _, err = run(capsys, "learn", "train", str(tmp_path / "bad.jsonl"), "--out", "x")
    assert code != 0 and err.startswith("llmos: EINVAL") and "bad.jsonl:1" in err


def test_parse_since():
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("3d", now=1e6) == 1e6 - 3 * 86400
    assert parse_since("1700000000") == 1_700_000_000.0
    assert parse_since(None) is None


@pytest.mark.parametrize("text", [
    "token: ghp_abcdefghijklmnopqrstuvwxyz0123", "AKIAABCDEFGHIJKLMNOP", "api_key=abcd1234efgh",
    '"password": "s3cret!!"', "Authorization: Bearer abcdefghijklmnopqrstuvwxyz", SECRET,
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
])
def test_redact(text):
    out = redact(f"before {text} after")
    assert REDACTED in out and out.startswith("before") and out.endswith("after")
    secretish = [w for w in text.replace('"', " ").replace("=", " ").split() if len(w) >= 8 and w.lower() not in
                 ("authorization:", "password", "private")]
    assert not any(w in out for w in secretish if any(c.isdigit() for c in w)), out


def test_redact_leaves_plain_text():
    text = "The meeting is on Friday at 3pm; the token of thanks was a book."
    assert redact(text) == text


def test_curriculum_actions_parse_match_the_grammar_and_run(tmp_path):
    from llmos.drivers.llama_cpp import lib
    from llmos.drivers.models import ModelStore

    tasks = curriculum.generate(60, seed=3, exclude=curriculum.agent_heldout())
    assert len(tasks) == 60 and {t.split for t in tasks} == {"train"}
    assert not {t.task for t in tasks} & curriculum.agent_heldout()
    assert len({t.family for t in tasks}) >= 8
    # the grammar, as llama.cpp's sampler reads it, over the default model's vocabulary (no weights)
    L = lib()
    mp = L.llama_model_default_params()
    mp.vocab_only = True
    path = ModelStore(tmp_path / "models").prepare_packaged()
    model = L.llama_model_load_from_file(str(path).encode(), mp)
    vocab = L.llama_model_get_vocab(model)

    class Vocab:  # what LlamaCppDriver.grammar_accepts needs
        from llmos.drivers.llama_cpp import LlamaCppDriver as D
        grammar_accepts = D.grammar_accepts
        _grammar = D._grammar
        tokenize = D.tokenize

    v = Vocab()
    v.vocab, v._grammars, v._bos = vocab, {}, L.llama_vocab_bos(vocab)
    try:
        with Kernel.boot(tmp_path / "home", driver=__import__("llmos.drivers.scripted", fromlist=["x"]).ScriptedDriver()) as k:
            for t in tasks:
                p = k.spawn(task=t.task, caps=CapSet.parse(t.caps), tool_choice=t.tool_choice)
                fns = model_functions(k, p)
                for i, action in enumerate(t.actions()):
                    grammar = action_grammar(fns, t.tool_choice if i == 0 else "auto")
                    assert v.grammar_accepts(grammar, action), (t.task, action)
                    a = parse_action(action)
                    if i < len(t.calls):
                        assert a.is_call and (a.name, a.arguments) == t.calls[i]
                    else:
                        assert not a.is_call
    finally:
        for g in v._grammars.values():
            L.llama_sampler_free(g)
        L.llama_model_free(model)
    rows = curriculum.run_tasks(tasks[:20], tmp_path / "run")  # raises if a task does not run as written
    assert len(rows) == 20 and all(r["messages"][-1]["role"] == "assistant" for r in rows)


def test_curriculum_heldout_split_is_disjoint():
    train = curriculum.generate(200, seed=5, split="train")
    held = curriculum.generate(50, seed=5, split="heldout")
    assert len(held) == 50 and not {t.task.lower() for t in train} & {t.task.lower() for t in held}


def test_chatml_spans_cover_only_what_the_model_wrote():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "R"}, {"role": "assistant", "content": "A2"}]
    text, spans, system_end = chatml(msgs)
    assert text.startswith("<|im_start|>system\nS<|im_end|>\n") and text[:system_end].endswith("S<|im_end|>\n")
    assert [text[a:b] for a, b in spans] == ["A1<|im_end|>", "A2<|im_end|>"]


def test_encode_without_a_system_turn_keeps_a_prefix():
    """A chat without a system prompt (the distilled answers) still has a prefix to run first,
    its first token (an empty one crashed the training step), and learns only the answer."""
    def tok(text, **_):  # one token per character
        return {"input_ids": [ord(c) for c in text], "offset_mapping": [(i, i + 1) for i in range(len(text))]}

    e = encode(tok, {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, 512)
    assert e.prefix == (ord("<"),)
    learned = "".join(chr(i) for i, label in zip(e.ids, e.labels, strict=True) if label != -100)
    assert learned == "yo<|im_end|>"


def test_adapter_gguf_structure(tmp_path):
    import gguf
    import torch

    rng = np.random.default_rng(0)
    n_head, n_kv, head_dim, hidden, ffn, r = 4, 2, 8, 32, 48, 4
    shapes = {"q_proj": (n_head * head_dim, hidden), "k_proj": (n_kv * head_dim, hidden), "v_proj": (n_kv * head_dim, hidden),
              "o_proj": (hidden, hidden), "gate_proj": (ffn, hidden), "up_proj": (ffn, hidden), "down_proj": (hidden, ffn)}
    state = {}
    for layer in range(2):
        for proj, (out_f, in_f) in shapes.items():
            part = "self_attn" if proj[0] in "qkvo" else "mlp"
            key = f"base_model.model.model.layers.{layer}.{part}.{proj}"
            state[f"{key}.lora_A.weight"] = torch.tensor(rng.standard_normal((r, in_f)), dtype=torch.float32)
            state[f"{key}.lora_B.weight"] = torch.tensor(rng.standard_normal((out_f, r)), dtype=torch.float32)
    path = tmp_path / "a.gguf"
    assert write_adapter(state, path, alpha=8.0, n_head=n_head, n_head_kv=n_kv) == 14
    reader = gguf.GGUFReader(str(path))
    fields = {f.name: f for f in reader.fields.values()}

    def value(name):
        f = fields[name]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    assert value("general.type") == "adapter" and value("adapter.type") == "lora"
    assert float(value("adapter.lora.alpha")) == 8.0 and value("general.architecture") == "llama"
    tensors = {t.name: np.array(t.data).reshape(tuple(reversed([int(x) for x in t.shape]))) for t in reader.tensors}
    assert len(tensors) == 28
    a = state["base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"].numpy()
    b = state["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"].numpy()
    assert np.array_equal(tensors["blk.1.attn_v.weight.lora_a"], a)  # rank x in
    assert np.array_equal(tensors["blk.1.attn_v.weight.lora_b"], b)  # out x rank
    bq = state["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"].numpy()
    assert np.array_equal(tensors["blk.0.attn_q.weight.lora_b"], permute(bq, n_head))
    assert not np.array_equal(permute(bq, n_head), bq)  # rows of each head, interleaved halves
    bk = state["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"].numpy()
    assert np.array_equal(tensors["blk.0.attn_k.weight.lora_b"], permute(bk, n_kv))
    assert "blk.0.ffn_down.weight.lora_a" in tensors and "blk.1.attn_output.weight.lora_b" in tensors
    # halved, as llmos ships its own adapter: the same keys, the same tensors in float16
    half = tmp_path / "half.gguf"
    halve(path, half)
    hr = gguf.GGUFReader(str(half))
    assert {f.name: f.contents() for f in hr.fields.values() if not f.name.startswith("GGUF.")} == \
        {n: f.contents() for n, f in fields.items() if not n.startswith("GGUF.")}
    halves = {t.name: np.array(t.data) for t in hr.tensors}
    assert {t.tensor_type for t in hr.tensors} == {gguf.GGMLQuantizationType.F16} and halves.keys() == tensors.keys()
    for name, full in tensors.items():
        assert halves[name].shape == full.shape and np.allclose(halves[name], full, rtol=1e-3, atol=1e-3)
    with pytest.raises(Exception) as info:
        halve(tmp_path / "nope.gguf", tmp_path / "x.gguf")
    assert "nope.gguf" in str(info.value)


def test_adapter_gguf_refuses_what_llama_cpp_cannot_name(tmp_path):
    import torch
    from llmos.drivers.base import DriverError

    with pytest.raises(DriverError) as e:
        write_adapter({"base_model.model.lm_head.lora_A.weight": torch.zeros(2, 2)}, tmp_path / "x.gguf",
                      alpha=1, n_head=1, n_head_kv=1)
    assert "lm_head" in str(e.value)


def test_flatten_folds_nested_optionals():
    g = 'x ::= "\\"" (char (char (char (char)?)?)?)? "\\""\nchar ::= [a-z]\n'
    assert flatten(g) == 'x ::= "\\"" char{0,4} "\\""\nchar ::= [a-z]\n'
    reply_only = action_grammar([], "auto")  # nothing nested: unchanged
    assert flatten(reply_only) == reply_only


def test_model_specs_route_adapters_and_hf(capsys, home):
    from llmos.drivers.loader import drivers

    by = {name: matches for name, matches, _ in drivers()}
    assert by["llama.cpp"]("default+lora:mine") and not by["transformers"]("default+lora:mine")
    assert by["transformers"]("hf:default") and by["transformers"]("hf:default+lora:mine")
    assert not by["llama.cpp"]("hf:default")
    code, _, err = run(capsys, "--model", "default+lora:nope", "call", "llm.complete", "prompt=x")
    err = err.strip()  # a progress line may have been cleared before it
    assert code != 0 and err.startswith("llmos: ENOENT: no LoRA adapter named 'nope'") and "\n" not in err
    d = home / "models" / "lora" / "mine"
    d.mkdir(parents=True)
    (d / "adapter.gguf").write_bytes(b"GGUF")
    (d / "meta.json").write_text(json.dumps({"base": "default", "examples": 10, "epochs": 2}))
    code, out, _ = run(capsys, "model", "list", "--json")
    specs = {e["spec"]: e for e in json.loads(out)}
    assert code == 0 and "default+lora:mine" in specs and specs["default+lora:mine"]["available"]
