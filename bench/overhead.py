"""Generation speed through the llmos dispatcher vs bare llama-cpp-python, same run.

Same model, prompt, context size, thread count and token count (greedy, EOS ignored).
Two baselines: the high-level `llama_cpp.Llama.generate` loop, and a raw low-level loop
(decode one token, sample with a native greedy chain) — the least work llama.cpp can do.
`ratio` = llmos tokens/s over the faster baseline's, each side timed by its fastest of
`--reps` interleaved runs (as timeit does: on a shared 2-core machine the slower runs measure
the other work, and a median still moved the ratio by +-0.05 between identical runs; the fastest
of 7 gave 0.90-1.00 over five runs on one afternoon, of 15: 0.98-1.02 over three). Goal: >= 0.95.

    python bench/overhead.py [--model default|gemma-3-270m] [--tokens 128] [--reps 15] [--json]
"""

from __future__ import annotations

from _common import models_dir, parser, report, same_weights, temp_home, timed

PROMPT = "Once upon a time, in a small village by the sea, there lived"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--n-ctx", type=int, default=4096)
    a = p.parse_args()

    import llama_cpp
    from llmos.drivers.llama_cpp import KV_TYPES, LlamaCppDriver, cpu_threads, decode_thread
    from llmos.drivers.models import ModelStore
    from llmos.kernel import Kernel

    path = ModelStore(models_dir()).resolve(a.model)
    n = a.tokens
    threads = cpu_threads()

    driver = LlamaCppDriver(path, spec=a.model, n_ctx=a.n_ctx, n_seq=1)
    kernel = Kernel.boot(temp_home(), driver=driver)
    args = {"prompt": PROMPT, "max_tokens": n, "temperature": 0, "ignore_eos": True}
    def via_llmos():
        r = kernel.call("llm.complete", args)  # dispatcher, journal, kernel.generate
        assert r.completion_tokens == n, r.completion_tokens

    # Baseline 1: the high-level Llama class.
    kv = KV_TYPES[driver.kv_type]  # and the same KV cache type as the driver
    llm = same_weights(lambda: llama_cpp.Llama(model_path=str(path), n_ctx=a.n_ctx, n_threads=threads,
                                               n_threads_batch=threads, n_batch=512, type_k=kv, type_v=kv, flash_attn=True,
                                               verbose=False))
    prompt_toks = llm.tokenize(PROMPT.encode(), add_bos=True)

    def via_llama_class():
        count = 0
        for _ in llm.generate(prompt_toks, temp=0.0, top_k=1, reset=True):
            count += 1
            if count == n:
                break

    # Baseline 2: a raw low-level loop on its own context.
    L = llama_cpp
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_threads, cp.n_threads_batch, cp.no_perf = a.n_ctx, 512, 512, threads, threads, True
    cp.type_k = cp.type_v = kv
    ctx = L.llama_init_from_model(llm.model, cp)
    mem = L.llama_get_memory(ctx)
    batch = L.llama_batch_init(512, 0, 1)

    def decode(toks, pos):
        for i, t in enumerate(toks):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = t, pos + i, 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = i == len(toks) - 1
        batch.n_tokens = len(toks)
        assert L.llama_decode(ctx, batch) == 0

    def via_raw():
        L.llama_memory_clear(mem, True)
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        decode(prompt_toks, 0)
        pos = len(prompt_toks)
        for i in range(n):
            tok = L.llama_sampler_sample(chain, ctx, -1)
            if i < n - 1:
                decode([tok], pos)
                pos += 1
        L.llama_sampler_free(chain)

    # The baselines decode on the process's decode thread itself (see drivers/engine.py:
    # DecodeThread; a second decoding thread would slow every side down), so they pay no
    # hand-off; llmos's call pays one per token.
    dt = decode_thread()
    runs = {"llmos": via_llmos, "llama_class": lambda: dt.call(via_llama_class), "raw": lambda: dt.call(via_raw)}
    for fn in runs.values():  # warm up
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(a.reps):  # interleaved, so drift hits all three alike
        for k, fn in runs.items():
            times[k].append(timed(fn))
    tps = {k: n / min(v) for k, v in times.items()}
    best = max(tps["llama_class"], tps["raw"])
    result = {
        "model": a.model,
        "tokens": n,
        "reps": a.reps,
        "threads": threads,
        "tokens_per_s_llmos": round(tps["llmos"], 1),
        "tokens_per_s_llama_class": round(tps["llama_class"], 1),
        "tokens_per_s_raw": round(tps["raw"], 1),
        "ratio_vs_llama_class": round(tps["llmos"] / tps["llama_class"], 3),
        "ratio_vs_raw": round(tps["llmos"] / tps["raw"], 3),
        "ratio": round(tps["llmos"] / best, 3),
    }
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    kernel.close()
    driver.close()
    report(result, a.json, [
        f"model {a.model}, {n} tokens, {threads} threads, fastest of {a.reps}",
        f"  llmos llm.complete (dispatcher + journal): {tps['llmos']:7.1f} tok/s",
        f"  llama_cpp.Llama.generate:                 {tps['llama_class']:7.1f} tok/s",
        f"  raw low-level loop:                       {tps['raw']:7.1f} tok/s",
        f"  ratio vs the faster baseline: {result['ratio']:.3f}   (vs Llama {result['ratio_vs_llama_class']:.3f}, vs raw {result['ratio_vs_raw']:.3f})",
    ])


if __name__ == "__main__":
    main()
