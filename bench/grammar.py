"""Grammar-constrained action decoding vs free decoding of the same length, same model, same run.

The constrained side decodes an action (a call: tool_choice required) under the GBNF grammar a
process with fs.*, sys.time and the calculator gets (llama.cpp's converter on the syscalls'
and the tool's JSON Schemas); the free side decodes the
same number of tokens from the same prompt with no grammar. Both reuse the prompt's KV, so the
figures are decoding speed. `ratio` = constrained tokens/s over free tokens/s. Goal: >= 0.75.

    python bench/grammar.py [--model default|gemma-3-270m] [--reps 5] [--json]
"""

from __future__ import annotations

import time

from _common import median, models_dir, parser, report

WARMUP = ["show me what time it is", "make a folder called notes"]  # not measured: loads code paths
TASKS = [
    "list the files in my workspace",
    "write a note called todo.txt that says: buy milk, call mom, fix the bike",
    "what is 17 times 23? use the calculator",
    "read the file notes.txt and tell me what it says",
]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--cold", action="store_true", help="forget remembered grammar scans before every action")
    p.add_argument("--naive", action="store_true",
                   help="instead mask the whole vocabulary with the grammar on every token (llama.cpp's plain way)")
    a = p.parse_args()

    from llmos.drivers.base import Sampling
    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.drivers.models import ModelStore
    from llmos.kernel.prompt import syscall_function, system_prompt
    from llmos.syscalls.builtin_tools import CalcArgs
    from llmos.syscalls.grammar import Function, action_grammar
    from llmos.syscalls.table import TABLE

    driver = LlamaCppDriver(ModelStore(models_dir()).resolve(a.model), spec=a.model, n_ctx=4096, n_seq=1)
    if a.naive:
        from llmos.drivers import llama_cpp as lc

        def naive_sample(self, idx):  # the grammar filters every candidate, every token
            L = lc.lib()
            if self.grammar is None:
                return L.llama_sampler_sample(self.chain, self.d.ctx, idx)
            import numpy as np

            logits = np.ctypeslib.as_array(L.llama_get_logits_ith(self.d.ctx, idx), shape=(self._n,))
            tok = self._apply(self._ids, logits)
            self.full += 1
            L.llama_sampler_accept(self.chain, tok)
            L.llama_sampler_accept(self.grammar, tok)
            return tok

        lc.Sampler.sample = naive_sample
    functions = [syscall_function(TABLE[n]) for n in sorted(TABLE) if n.startswith(("fs.", "sys.time"))]
    functions.append(Function("calculator", "Evaluate arithmetic exactly.", CalcArgs.model_json_schema()))
    grammar = action_grammar(functions, "required")
    system = system_prompt(functions, "required")
    t_con, t_free, n_con, fast, slow, full = [], [], [], 0, 0, 0
    real_sampler = driver.sampler

    def counting(s):
        smp = real_sampler(s)
        counting.last = smp
        return smp

    driver.sampler = counting
    for rep in range(a.reps + 1):
        for task in WARMUP if rep == 0 else TASKS:
            if a.cold:
                driver._grammar_memo.clear()
            msgs = [{"role": "system", "content": system}, {"role": "user", "content": task}]
            toks = driver.tokenize(driver.format_chat(msgs), add_special=True, parse_special=True)
            driver.generate(toks, Sampling(max_tokens=1, temperature=0))  # prefill once: both sides reuse it
            t0 = time.perf_counter()
            gen = driver.generate(toks, Sampling(max_tokens=400, temperature=0, grammar=grammar))
            dt = time.perf_counter() - t0
            n = gen.tokens_out
            last = counting.last
            stats = (last.fast, last.topk + last.remembered + last.full, last.full)
            t0 = time.perf_counter()
            driver.generate(toks, Sampling(max_tokens=n, temperature=0, ignore_eos=True))
            dt_free = time.perf_counter() - t0
            if rep == 0:
                continue  # warm-up round
            t_con.append(dt)
            t_free.append(dt_free)
            n_con.append(n)
            fast += stats[0]
            slow += stats[1]
            full += stats[2]
    tokens = sum(n_con)
    tps_con = tokens / sum(t_con)
    tps_free = tokens / sum(t_free)
    result = {
        "model": a.model,
        "cold": a.cold,
        "naive": a.naive,
        "actions": len(n_con),
        "tokens": tokens,
        "median_action_tokens": median(n_con),
        "tokens_per_s_constrained": round(tps_con, 1),
        "tokens_per_s_free": round(tps_free, 1),
        "ratio": round(tps_con / tps_free, 3),
        "grammar_bytes": len(grammar),
        "tokens_checked_fast": fast,
        "tokens_rejected_first": slow,
        "tokens_full_vocab_scan": full,
    }
    driver.close()
    report(result, a.json, [
        f"model {a.model}: {len(n_con)} actions, {tokens} tokens (median {median(n_con)} per action)",
        f"  constrained (grammar from the table): {tps_con:7.1f} tok/s",
        f"  free, same prompt and length:         {tps_free:7.1f} tok/s",
        f"  ratio {result['ratio']:.3f}  ({fast} tokens passed the one-token check, {slow} were rejected first, {full} needed a whole-vocabulary scan)",
    ])


if __name__ == "__main__":
    main()
