"""`llmos learn export | train | curriculum`: the learning module (kernel/learn/)."""

from __future__ import annotations

import json
from pathlib import Path

from ..syscalls.errno import Errno, SyscallError
from .registry import command


def _args(p) -> None:
    acts = p.add_subparsers(dest="learn_action", metavar="ACTION")
    a = acts.add_parser("export", help="the journal's good finished processes -> chat-format training examples (JSONL)")
    a.add_argument("--out", required=True, metavar="DATA.jsonl", help="where to write the examples")
    a.add_argument("--since", metavar="WHEN", help="only processes started since: 2h, 3d, 2026-01-31 or Unix seconds")
    a.add_argument("--no-redact", action="store_true", help="keep text that looks like a secret (default: [REDACTED])")
    a.add_argument("--json", action="store_true")
    a = acts.add_parser("curriculum", help="synthetic tasks over llmos's syscalls and tools, with their right actions (JSONL)")
    a.add_argument("--out", required=True, metavar="DATA.jsonl")
    a.add_argument("-n", type=int, default=300, help="how many tasks (default 300)")
    a.add_argument("--split", choices=["train", "heldout"], default="train", help="which split (default train)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--toolcalls", action="store_true",
                   help="also the synthetic function-calling examples llmos's own adapter learns from, "
                        "and the plain model's own answers that keep its chat (train split only; "
                        "kernel/learn/recipe.py)")
    a.add_argument("--json", action="store_true")
    a = acts.add_parser("train", help="LoRA fine-tuning on DATA.jsonl; usable as --model BASE+lora:NAME")
    a.add_argument("data", metavar="DATA.jsonl")
    a.add_argument("--out", required=True, metavar="NAME", help="the adapter's name (models/lora/NAME)")
    a.add_argument("--base", default="default", help="the base model (default: default)")
    a.add_argument("--epochs", type=int, default=2)
    a.add_argument("--lr", type=float, default=5e-4)
    a.add_argument("--rank", type=int, default=16)
    a.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    a.add_argument("--json", action="store_true")


@command("learn", "the learning module: export traces, make a curriculum, train a LoRA adapter", args=_args,
         where=("cli",), usage="export --out F | curriculum --out F | train F --out NAME")
def learn(env, ns) -> int:
    act = ns.learn_action
    if act is None:
        raise SyscallError(Errno.EINVAL, "learn needs an action: export, curriculum or train; `llmos learn --help` shows them")
    return {"export": _export, "curriculum": _curriculum, "train": _train}[act](env, ns)


def _export(env, ns) -> int:
    from ..kernel.learn.export import export, parse_since

    got = export(env.k, Path(ns.out), since=parse_since(ns.since), redact_secrets=not ns.no_redact)
    if ns.json:
        env.out.line(json.dumps(got))
    else:
        why = ", ".join(f"{n} {w}" for w, n in sorted(got["skipped"].items())) or "none"
        env.out.line(f"{got['written']} of {got['finished']} finished processes written to {ns.out} (left out: {why})")
    return 0


def _curriculum(env, ns) -> int:
    import tempfile

    from ..kernel.learn import curriculum

    if ns.toolcalls and ns.split != "train":
        raise SyscallError(Errno.EINVAL, "--toolcalls has no held-out split: the tool-call benchmark "
                                         "(bench/toolcall.py) is the held-out measure; drop --split heldout")
    tasks = curriculum.generate(ns.n, seed=ns.seed, split=ns.split, exclude=curriculum.agent_heldout())
    rows = curriculum.run_tasks(tasks, Path(tempfile.mkdtemp(prefix="llmos-curriculum-")))
    calls = own = 0
    if ns.toolcalls:
        from ..kernel.learn import recipe

        more = recipe.function_call_examples(Path(tempfile.mkdtemp(prefix="llmos-curriculum-")), seed=ns.seed)
        own = sum(r["meta"]["source"] == "distill" for r in more)
        calls = len(more) - own
        rows += more
    curriculum.write_jsonl(rows, Path(ns.out))
    if ns.json:
        env.out.line(json.dumps({"written": len(rows), "split": ns.split, "toolcalls": calls, "own_answers": own}))
    else:
        env.out.line(f"{len(rows)} {ns.split} examples written to {ns.out}"
                     + (f" ({calls} of them function calls and answers beside tools, {own} the plain "
                        "model's own answers that keep its chat)" if calls else ""))
    return 0


def _train(env, ns) -> int:
    from ..kernel.learn.train import TrainConfig, load_examples, train

    if ns.epochs < 1 or ns.rank < 1 or ns.lr <= 0:
        raise SyscallError(Errno.EINVAL, "--epochs and --rank must be at least 1 and --lr above 0")
    k = env.k
    examples = load_examples(Path(ns.data))
    base = ns.base.removeprefix("hf:")
    model_path = k.models.resolve(base, k.progress)
    out = k.models.adapter_dir(ns.out, must_exist=False)
    cfg = TrainConfig(epochs=ns.epochs, lr=ns.lr, rank=ns.rank, alpha=2.0 * ns.rank, threads=ns.threads)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("training {task.fields[what]}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(), console=Console(stderr=True))
    task = bar.add_task("train", total=None, what="(loading the model)", loss=float("nan"))
    with bar:
        meta = train(examples, out, base=base, model_path=model_path, cfg=cfg,
                     progress=lambda i, n, loss, what: bar.update(task, completed=i, total=n, loss=loss, what=what))
    if ns.json:
        env.out.line(json.dumps(meta))
    else:
        env.out.line(f"adapter {ns.out}: {meta['examples']} examples, {meta['epochs']} epochs, loss "
                     f"{meta['first_loss']:.3f} -> {meta['final_loss']:.3f} in {meta['train_seconds'] / 60:.1f} min")
        env.out.line(f"use it: llmos --model {base}+lora:{ns.out} ...  (or hf:{base}+lora:{ns.out} on transformers)")
    return 0
