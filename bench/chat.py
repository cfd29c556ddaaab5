"""Chat sanity: the share of short questions the model answers right through the shell's path.

Each question is one fresh chat, side by side in one run with the same seeds:
- `before`: the shell's first chat path (`llm.chat` as pid 0, its own "You are llmos..." system
  prompt, temperature 0.7, top-p 0.95, 512 tokens);
- `card`: the same call with the model card's settings (drivers/cards.py);
- `after`: the shell's chat now: a turn of the `assistant` app as a process (shell/chat.py), with
  the card's settings, its memory and its tools (the calculator), as typed at the `llmos>` prompt.

    .venv/bin/python bench/chat.py [--model default] [--seeds 3] [--json] [--show]
"""

from __future__ import annotations

import json
import time

from _common import parser, temp_home
from chat_suite import QUESTIONS, correct

SMOLLM_OWN = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"  # its chat template's default
OLD = {"system": "You are llmos, a helpful assistant running inside the llmos operating system. Answer briefly.",
       "temperature": 0.7, "top_p": 0.95, "top_k": 40, "max_tokens": 512}
# name: (label, path, settings over the card's)
CONFIGS = {
    "before": ("before: llm.chat, the shell's old prompt, T=0.7", "llm.chat", OLD),
    "card": ("llm.chat with the model card", "llm.chat", {}),
    "after": ("after: the shell now (assistant process, card)", "assistant", {}),
    "own-system": ("llm.chat, card + SmolLM2's template prompt", "llm.chat", {"system": SMOLLM_OWN}),
}


def plain_chat(k, settings: dict, question: str, seed: int):
    """One llm.chat as the shell once made it (pid 0, interactive, KV of its own); (text, result)."""
    from llmos.drivers.cards import card
    from llmos.kernel.scheduler import INTERACTIVE

    settings = {**card(k.model_spec).sampling, **settings}
    system = settings.pop("system", None)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    ctx = k.context()
    ctx.priority, ctx.one_shot = INTERACTIVE, True
    r = k.call("llm.chat", {"messages": messages, **settings, "seed": seed}, ctx=ctx)
    return r.text, r


def shell_chat(k, settings: dict, question: str, seed: int):
    """One turn typed at the shell's prompt: a new assistant session, closed after; (text, result)."""
    from llmos.shell.chat import Chat

    chat = Chat(k, **settings, seed=seed)
    try:
        return chat.say(question), chat.last
    finally:
        chat.close()


def measure(k, path: str, settings: dict, seeds: list[int], show: bool, width: int) -> dict:
    """Every question once per seed, `width` chats at a time (the scheduler batches them)."""
    from concurrent.futures import ThreadPoolExecutor

    from llmos.syscalls.errno import SyscallError

    ask = shell_chat if path == "assistant" else plain_chat

    def one(job):
        (q, pattern), seed = job
        try:
            answer, result = ask(k, settings, q, seed)
        except SyscallError as err:  # a timeout on a crowded machine is not a wrong answer: counted apart
            return q, seed, f"{err.code}: {err.message}", None, None
        return q, seed, answer, correct(answer, pattern), result

    t0 = time.perf_counter()
    jobs = [(qp, seed) for seed in seeds for qp in QUESTIONS]
    with ThreadPoolExecutor(width) as pool:
        rows = list(pool.map(one, jobs))
    errors = [row for row in rows if row[3] is None]
    rows = [row for row in rows if row[3] is not None]
    right = sum(ok for *_, ok, _ in rows)
    length = sum(r is not None and r.finish_reason == "length" for *_, r in rows)
    tokens = sum(r.completion_tokens for *_, r in rows if r is not None)  # None: answered by the calculator
    if show:
        for q, _, answer, ok, _ in rows:
            print(f"{'ok ' if ok else 'NO '} {q} -> {' '.join(answer.split())[:120]}")
    n = max(1, len(rows))
    return {"errors": [f"{q}: {a}" for q, _, a, *_ in errors], "rate": right / n, "right": right, "n": n, "hit_length_limit": length, "mean_tokens": tokens / n,
            "seconds": time.perf_counter() - t0,
            "misses": [{"q": q, "seed": s, "answer": a[:200]} for q, s, a, ok, _ in rows if not ok]}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="runs per question, seeds 0..N-1 (default 3)")
    p.add_argument("--show", action="store_true", help="print every answer")
    p.add_argument("--width", type=int, default=4, help="chats at once (default 4; 1: one after another)")
    p.add_argument("--configs", default="before,card,after", help=f"which, in order: {', '.join(CONFIGS)}")
    ns = p.parse_args()
    from llmos.kernel import Kernel

    seeds = list(range(ns.seeds))
    results = {}
    with Kernel.boot(temp_home(), model=ns.model, slots=ns.width, slot_ctx=1024) as k:
        for name in ns.configs.split(","):
            label, path, settings = CONFIGS[name]
            r = results[name] = measure(k, path, settings, seeds, ns.show, ns.width)
            print(f"{label:<40} {r['right']:>3}/{r['n']} = {r['rate']:.0%} right, {r['hit_length_limit']} cut at "
                  f"max_tokens, {r['mean_tokens']:.0f} tokens per answer, {r['seconds']:.0f} s", flush=True)
    if "before" in results and "after" in results:
        print(f"after/before: {results['after']['rate'] / max(results['before']['rate'], 1e-9):.2f}x right answers")
    if ns.json:
        print(json.dumps({"model": ns.model, "questions": len(QUESTIONS), "seeds": ns.seeds, **results}))


if __name__ == "__main__":
    main()
