"""`llmos learn train`: LoRA fine-tuning (peft) of the transformers model on chat examples.

Each example is a conversation (examples.py); the loss is on what the model wrote: every
assistant turn and its end-of-turn token. The text is the chat template's ChatML, tokenized
whole, so training sees the very tokens the kernel's prompts hold.

Cost on a CPU is what decides the shape of a step. The system prompt (the functions' JSON)
is most of every example and is the same for every process with the same grants, so examples
are grouped by it: a step runs the shared system prompt once (adapter on, no gradient: a
forward is a third of a forward and backward, and the prompt is fixed text the model only
reads), then the rest of a batch of examples against its KV, with gradients. Logits are
computed only where there is a label. Matmuls run in bfloat16 (autocast) on CPUs that have it.

Resumable: the adapter, the optimizer and the position in the schedule are saved every
`save_every` steps to OUT/checkpoint.pt; the same command again continues from there.
At the end the adapter is saved for peft (OUT/adapter_model.safetensors) and for llama.cpp
(OUT/adapter.gguf, drivers/hf/lora_gguf.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...drivers.base import DriverError
from ...drivers.errno import Errno

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    epochs: int = 2
    lr: float = 5e-4
    rank: int = 16
    alpha: float = 32.0
    batch: int = 16  # examples sharing a system prompt per step
    max_tokens: int = 1536  # longer examples are cut (their tail loses its labels)
    seed: int = 0
    save_every: int = 20
    threads: int | None = None


def chatml(messages: list[dict]) -> tuple[str, list[tuple[int, int]], int]:
    """The ChatML text of `messages`, the character spans to learn (each assistant turn's content
    and its <|im_end|>), and where the system turn ends."""
    text, spans, system_end = "", [], 0
    for m in messages:
        head = f"<|im_start|>{m['role']}\n"
        start = len(text) + len(head)
        text += head + m["content"] + "<|im_end|>"
        if m["role"] == "assistant":
            spans.append((start, len(text)))
        text += "\n"
        if m["role"] == "system":
            system_end = len(text)
    return text, spans, system_end


@dataclass
class Encoded:
    prefix: tuple[int, ...]  # the system turn's tokens (shared within a group)
    ids: list[int]  # the rest
    labels: list[int]  # -100 where nothing is learned


def encode(tok, ex: dict, max_tokens: int) -> Encoded | None:
    text, spans, system_end = chatml(ex["messages"])
    enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    # the prefix is the system turn; without one, the first token (a step runs a prefix first)
    cut = max(1, next((i for i, (s, _) in enumerate(offsets) if s >= system_end), len(ids)))
    labels = [-100] * len(ids)
    for i, (s, e) in enumerate(offsets):
        if any(a <= s and e <= b for a, b in spans) and e > s:
            labels[i] = ids[i]
    ids, labels = ids[:max_tokens], labels[:max_tokens]
    if cut >= len(ids) or all(x == -100 for x in labels[cut:]):
        return None
    return Encoded(tuple(ids[:cut]), ids[cut:], labels[cut:])


def load_examples(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DriverError(Errno.ENOENT, f"cannot read {path}: {exc.strerror}; make it with `llmos learn export --out {path.name}`") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ex = json.loads(line)
            msgs = ex["messages"]
            assert isinstance(msgs, list) and all(m["role"] in ("system", "user", "assistant") and isinstance(m["content"], str) for m in msgs)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise DriverError(Errno.EINVAL, f"{path}:{n} is not a chat example {{\"messages\": [{{\"role\", \"content\"}}...]}}; "
                                            "use the output of `llmos learn export`") from None
        out.append(ex)
    if not out:
        raise DriverError(Errno.EINVAL, f"{path} holds no examples; export some traces first (`llmos learn export`)")
    return out


def batches(encoded: list[Encoded], size: int, rng: random.Random) -> list[list[Encoded]]:
    """Examples grouped by their system prompt, in batches of at most `size`, in shuffled order."""
    groups: dict[tuple[int, ...], list[Encoded]] = {}
    for e in encoded:
        groups.setdefault(e.prefix, []).append(e)
    out = []
    for items in groups.values():
        rng.shuffle(items)
        out += [items[i:i + size] for i in range(0, len(items), size)]
    rng.shuffle(out)
    return out


def data_hash(examples: list[dict], cfg: TrainConfig, base: str) -> str:
    h = hashlib.sha256(json.dumps([examples, cfg.epochs, cfg.lr, cfg.rank, cfg.alpha, cfg.batch, cfg.seed, base]).encode())
    return h.hexdigest()[:16]


def step_loss(model, torch, cache_cls, cache_kw: str, batch: list[Encoded], device: str):
    """Summed loss and label count of one batch sharing one system prompt."""
    inner = model.get_base_model().model  # the decoder (LlamaModel)
    head = model.get_base_model().lm_head
    prefix = torch.tensor([batch[0].prefix], device=device)
    cache = cache_cls(config=model.config)
    with torch.no_grad():  # the adapter shapes the system prompt's KV, but is not trained through it
        inner(input_ids=prefix, use_cache=True, **{cache_kw: cache})
    n = len(batch)
    expanded = cache_cls(ddp_cache_data=[(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1))
                                         for layer in cache.layers], config=model.config)
    width = max(len(e.ids) for e in batch)
    ids = torch.zeros((n, width), dtype=torch.long, device=device)
    labels = torch.full((n, width), -100, dtype=torch.long, device=device)
    for i, e in enumerate(batch):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        labels[i, :len(e.labels)] = torch.tensor(e.labels)
    # right padding under a causal mask: a real token never attends to the padding after it
    hidden = inner(input_ids=ids, use_cache=True, **{cache_kw: expanded}).last_hidden_state
    # token t predicts t+1; the first suffix token is predicted from the prefix's last position,
    # whose label is the suffix's first token (never learned: it is the user turn's header)
    target = labels[:, 1:]
    keep = target != -100
    logits = head(hidden[:, :-1][keep]).float()
    loss = torch.nn.functional.cross_entropy(logits, target[keep], reduction="sum")
    return loss, int(keep.sum())


def train(examples: list[dict], out: Path, *, base: str, model_path: Path, cfg: TrainConfig,
          progress: Callable[[int, int, float, str], None] | None = None) -> dict:
    """Fine-tune a LoRA on `examples`; write OUT/ (peft adapter, adapter.gguf, meta.json)."""
    import torch

    from ...drivers.hf import load_model
    from ...drivers.hf.driver import cache_kw
    from ...drivers.hf.lora_gguf import write_adapter

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok, model = load_model(model_path, device=device)
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict
    from transformers import DynamicCache

    kw = cache_kw(model.model)
    model = get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0,
                                             target_modules=TARGETS, task_type="CAUSAL_LM"))
    model.train()
    encoded = [e for e in (encode(tok, ex, cfg.max_tokens) for ex in examples) if e is not None]
    if not encoded:
        raise DriverError(Errno.EINVAL, "no example has an assistant turn to learn from")
    rng = random.Random(cfg.seed)
    plan = [b for _ in range(cfg.epochs) for b in batches(encoded, cfg.batch, rng)]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    warm = max(1, len(plan) // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, len(plan))))))
    out.mkdir(parents=True, exist_ok=True)
    ckpt, key = out / "checkpoint.pt", data_hash(examples, cfg, base)
    done, losses, seconds = 0, [], 0.0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("key") == key:
            set_peft_model_state_dict(model, state["adapter"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            done, losses, seconds = state["done"], state["losses"], state["seconds"]
    bf16 = device == "cpu" and _has_bf16()
    t0 = time.perf_counter() - seconds
    for i in range(done, len(plan)):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16 or device == "cuda"):
            loss, count = step_loss(model, torch, DynamicCache, kw, plan[i], device)
        (loss / max(1, count)).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item() / max(1, count))
        if progress:
            progress(i + 1, len(plan), sum(losses[-10:]) / len(losses[-10:]), f"epoch {i * cfg.epochs // len(plan) + 1}/{cfg.epochs}")
        if (i + 1) % cfg.save_every == 0 and i + 1 < len(plan):
            torch.save({"key": key, "adapter": get_peft_model_state_dict(model), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "done": i + 1, "losses": losses,
                        "seconds": time.perf_counter() - t0}, ckpt)
    seconds = time.perf_counter() - t0
    model.save_pretrained(str(out))
    cfg_m = model.config
    n_heads = cfg_m.num_attention_heads
    write_adapter(get_peft_model_state_dict(model), out / "adapter.gguf", alpha=cfg.alpha, n_head=n_heads,
                  n_head_kv=getattr(cfg_m, "num_key_value_heads", n_heads) or n_heads)
    meta = {"base": base, "examples": len(encoded), "epochs": cfg.epochs, "steps": len(plan), "rank": cfg.rank,
            "alpha": cfg.alpha, "lr": cfg.lr, "first_loss": round(sum(losses[:10]) / max(1, len(losses[:10])), 4),
            "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4), "train_seconds": round(seconds, 1)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    ckpt.unlink(missing_ok=True)
    return meta


def _has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
