"""Multiplexing: N processes generating 128 tokens each, scheduled and batched vs one after another.

Same driver (n_seq = the largest N, one KV stream per slot), same prompts, greedy, EOS
ignored, and both sides go through the same scheduler (and decode on the driver's one decode
thread). Each side is timed `--reps` times, interleaved, and its fastest run counts. The
baseline submits one process's generation at a time and waits for it, as agent frameworks run
agents; llmos submits all N at once and decodes one token for each of them per llama_decode. Keys `speedup_8`,
`speedup_16` = baseline time over scheduled time. Goal: >= 3x at 16.

For scale it also times bare llama_decode calls on the same context, no sampling and no
scheduler: N slots' next tokens in one call vs one slot's token per call
(`raw_decode_speedup_N`). That is the most batching can give with these kernels on this
machine; the scheduler's speedup can only approach it.

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
    p.add_argument("--reps", type=int, default=3, help="time each side this many times, interleaved; keep the fastest")
    a = p.parse_args()

    from llmos.drivers.base import Sampling
    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.drivers.models import ModelStore
    from llmos.kernel.scheduler import BATCH, Scheduler

    counts = [int(x) for x in a.procs.split(",")]
    path = ModelStore(models_dir()).resolve(a.model)
    d = LlamaCppDriver(path, spec=a.model, n_ctx=512, n_seq=max(counts))  # per slot: prompt + 128
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
        seq_times, sched_times = [], []
        for _ in range(a.reps):  # interleaved, so a slow spell of the machine hits both sides
            reset()
            seq_times.append(timed(lambda n=n: one_after_another(n)))
            reset()
            sched_times.append(timed(lambda n=n: scheduled(n)))
        t_seq, t_sched = min(seq_times), min(sched_times)  # timeit's rule: the fastest is the least disturbed
        total = n * a.tokens
        result[f"seq_tokens_per_s_{n}"] = round(total / t_seq, 1)
        result[f"sched_tokens_per_s_{n}"] = round(total / t_sched, 1)
        result[f"speedup_{n}"] = round(t_seq / t_sched, 2)
        lines.append(f"  {n:>2} processes: one after another {total / t_seq:7.1f} tok/s ({t_seq:5.1f} s), "
                     f"scheduled {total / t_sched:7.1f} tok/s ({t_sched:5.1f} s): {t_seq / t_sched:.2f}x")
    for n in counts:
        reset()
        result[f"raw_decode_speedup_{n}"] = r = round(raw_decode_speedup(d, prompts[:n]), 2)
        lines.append(f"  {n:>2} slots, bare llama_decode, batched vs one slot per call: {r:.2f}x")
    sched.close()
    d.close()
    report(result, a.json, lines)


def raw_decode_speedup(d, prompts, steps: int = 32) -> float:
    """Time one llama_decode per step carrying every slot's next token vs one per slot."""
    import llama_cpp as L
    from llmos.drivers.base import Sampling
    from llmos.drivers.llama_cpp import decode_thread

    with d.lock:
        for slot, p in enumerate(prompts):  # prefill each slot with its prompt
            d.generate(p, Sampling(max_tokens=1, temperature=0), slot=slot)
        b, n = d.batch, len(prompts)
        base = [len(d.slots[s]) for s in range(n)]

        def decode(slots, i):
            for j, s in enumerate(slots):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = 100 + i, base[s] + i, 1, True
                b.seq_id[j][0] = s
            b.n_tokens = len(slots)
            assert L.llama_decode(d.ctx, b) == 0

        def batched():
            for i in range(steps):
                decode(range(n), i)

        def one_by_one():  # a slot at a time, as one process after another would
            for s in range(n):
                for i in range(steps):
                    decode([s], steps + i)

        dt = decode_thread()  # where the driver decodes too: one OpenMP team in the process
        t_batched, t_single = dt.call(timed, batched), dt.call(timed, one_by_one)
        for s in range(n):
            d.reset_slot(s)
    return t_single / t_batched


if __name__ == "__main__":
    main()
