"""Multiplexing: N processes generating 128 tokens each, scheduled and batched vs one after another.

Same driver (n_seq = the largest N, unified KV), same prompts, greedy, EOS ignored, and both
sides decode on the scheduler's thread (llama.cpp's OpenMP workers spin after each decode: a
second thread calling llama_decode meanwhile runs at half speed, which would flatter or
handicap either side). The baseline submits one process's generation at a time and waits for
it, as agent frameworks run agents; llmos submits all N at once and decodes one token for each
of them per llama_decode. Keys `speedup_8`,
`speedup_16` = baseline time over scheduled time. Goal: >= 3x at 16.

    python bench/multiplex.py [--model default|gemma-3-270m] [--procs 8,16] [--tokens 128] [--json]
"""

from __future__ import annotations

from _common import models_dir, parser, report, temp_home, timed

TOPICS = ["the sea", "a mountain", "bread", "a robot", "the moon", "a library", "rain", "a violin",
          "chess", "a garden", "winter", "a bridge", "coffee", "a lighthouse", "bees", "a train"]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--procs", default="8,16")
    p.add_argument("--tokens", type=int, default=128)
    a = p.parse_args()

    from llmos.drivers.base import Sampling
    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.drivers.models import ModelStore
    from llmos.kernel.scheduler import BATCH, Scheduler

    counts = [int(x) for x in a.procs.split(",")]
    path = ModelStore(models_dir()).resolve(a.model)
    d = LlamaCppDriver(path, spec=a.model, n_ctx=4096, n_seq=max(counts))
    sched = Scheduler(d, temp_home() / "swap")
    prompts = [d.tokenize(f"Write a short story about {TOPICS[i % len(TOPICS)]} (number {i}).", add_special=True)
               for i in range(max(counts))]
    s = Sampling(max_tokens=a.tokens, temperature=0, ignore_eos=True)

    def reset():
        for slot in range(d.n_seq):
            d.reset_slot(slot)

    def one_after_another(n):  # same scheduler thread and engine, one request at a time
        for i in range(n):
            sched.wait(sched.submit(None, prompts[i], s, priority=BATCH))

    def scheduled(n):
        with d.lock:  # all n join the first step together
            reqs = [sched.submit(None, prompts[i], s, priority=BATCH) for i in range(n)]
        outs = [sched.wait(r) for r in reqs]
        assert all(o.tokens_out == a.tokens for o in outs)

    result = {"model": a.model, "tokens": a.tokens, "slots": d.n_seq}
    lines = [f"model {a.model}, {a.tokens} tokens per process, {d.n_seq} slots"]
    reset()
    one_after_another(1)  # warm up
    scheduled(2)
    for n in counts:
        reset()
        t_seq = timed(lambda n=n: one_after_another(n))
        reset()
        t_sched = timed(lambda n=n: scheduled(n))
        total = n * a.tokens
        result[f"seq_tokens_per_s_{n}"] = round(total / t_seq, 1)
        result[f"sched_tokens_per_s_{n}"] = round(total / t_sched, 1)
        result[f"speedup_{n}"] = round(t_seq / t_sched, 2)
        lines.append(f"  {n:>2} processes: one after another {total / t_seq:7.1f} tok/s ({t_seq:5.1f} s), "
                     f"scheduled {total / t_sched:7.1f} tok/s ({t_sched:5.1f} s): {t_seq / t_sched:.2f}x")
    sched.close()
    d.close()
    report(result, a.json, lines)


if __name__ == "__main__":
    main()
