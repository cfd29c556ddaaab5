"""Perplexity: how well each model predicts a fixed English text, the first model the baseline.

The text is bench/data/bartleby.txt: the opening of Herman Melville's "Bartleby, the Scrivener"
(1853; public domain), exactly as in Project Gutenberg's etext #11231, its hard-wrapped lines
joined into paragraphs. The first `--tokens`+1 tokens of it go into one sequence, decoded in
chunks with logits for every position (llama_decode on the driver's own context, q8_0 KV as the
kernel runs it); each of the last `--tokens` tokens is scored given everything before it.
Perplexity = exp(mean negative log-likelihood). Lower is better; ratios are against the first
model. Models that share a tokenizer (the formats of one model) score the same tokens.

Also the prefill rate (tokens/s of those chunked decodes): a batched matmul figure that needs no
scheduler.

    python bench/perplexity.py [--model default-q4_1,default-q8_0,default-q4_0] [--tokens 1024] [--json]
"""

from __future__ import annotations

import math
from pathlib import Path

from _common import models_dir, parser, report, timed

TEXT = Path(__file__).resolve().parent / "data" / "bartleby.txt"


def text() -> str:
    """The passage as prose: paragraphs kept, each one's lines and double spaces joined."""
    return "\n\n".join(" ".join(par.split()) for par in TEXT.read_text().split("\n\n"))


def perplexity(d, tokens: list[int], chunk: int) -> tuple[float, float]:
    """(perplexity of tokens[1:] given the tokens before each, seconds spent decoding)."""
    import llama_cpp as L
    import numpy as np
    from llmos.drivers.llama_cpp import decode_thread

    n_vocab, b, nll, seconds = d.info.n_vocab, d.batch, 0.0, 0.0
    with d.lock:
        d.reset_slot(0)
        for start in range(0, len(tokens) - 1, chunk):  # the last token is only ever a target
            part = tokens[start:min(start + chunk, len(tokens) - 1)]
            for j, t in enumerate(part):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = t, start + j, 1, True
                b.seq_id[j][0] = 0
            b.n_tokens = len(part)

            def decode():
                if L.llama_decode(d.ctx, b) != 0:
                    raise RuntimeError("llama_decode failed")

            seconds += decode_thread().call(timed, decode)
            logits = np.ctypeslib.as_array(L.llama_get_logits(d.ctx), shape=(len(part) * n_vocab,))
            rows = logits.reshape(len(part), n_vocab).astype(np.float64)
            top = rows.max(axis=1)
            logz = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
            targets = np.array(tokens[start + 1:start + 1 + len(part)])
            nll -= float((rows[np.arange(len(part)), targets] - logz).sum())
        d.reset_slot(0)
    return math.exp(nll / (len(tokens) - 1)), seconds


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(model="default-q4_1,default-q8_0,default-q4_0")
    p.add_argument("--tokens", type=int, default=1024, help="how many tokens to score")
    a = p.parse_args()

    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.drivers.models import ModelStore

    store, prose = ModelStore(models_dir()), text()
    specs = [s for s in a.model.split(",") if s]
    result: dict = {"text": str(TEXT.relative_to(TEXT.parent.parent.parent)), "tokens": a.tokens, "models": []}
    lines = [f"perplexity over {a.tokens} tokens of {TEXT.name}, first model the baseline"]
    base = None
    for spec in specs:
        path = store.resolve(spec)
        d = LlamaCppDriver(path, spec=spec, n_ctx=a.tokens + 1, n_seq=1)
        try:
            tokens = d.tokenize(prose, add_special=True)[: a.tokens + 1]
            if len(tokens) <= a.tokens:
                raise SystemExit(f"llmos: EINVAL: {TEXT.name} is only {len(tokens)} tokens for {spec}; "
                                 f"use --tokens {len(tokens) - 1} or less")
            ppl, seconds = perplexity(d, tokens, d.n_batch)
        finally:
            d.close()
        base = base or ppl
        row = {"model": spec, "file": path.name, "ppl": round(ppl, 3),
               "ppl_ratio": round(ppl / base, 3), "prefill_tokens_per_s": round(a.tokens / seconds, 1)}
        result["models"].append(row)
        result[f"ppl_{spec}"] = row["ppl"]
        lines.append(f"  {spec:<14} {row['file']:<34} ppl {ppl:7.3f} ({ppl / base:5.3f}x)  "
                     f"prefill {row['prefill_tokens_per_s']:7.1f} tok/s")
    report(result, a.json, lines)


if __name__ == "__main__":
    main()
