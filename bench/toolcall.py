"""Function calling: the bare model with a JSON-schema grammar vs llmos's tool path, same cases, same run.

The suite (bench/toolcall_tools.json, bench/toolcall_cases.jsonl; see toolcall_score.py) holds
single-function questions, each with its expected call, scored by AST match. Three sides:
  bare             llama-cpp-python's Llama.create_chat_completion, the function's JSON in the
                   system prompt, a grammar from its parameters' JSON Schema, greedy
  llmos required   the tool registered through the public path, the question run as a process
                   granted only that tool, --tool-choice required
  bare_tuned       (only when asked for) the bare side on the weights llmos loads: for `default`,
                   with llmos's adapter folded in; `bare` is the model without it, as shipped
  llmos auto       the same with --tool-choice auto (`llmos_auto_call_rate`: how often it calls),
                   and bench/chat_suite's questions, which need no tool, each run with one suite
                   tool granted (`llmos_auto_false_call_rate`: how often it calls anyway)
Goal on the default model: llmos_required_accuracy >= bare_accuracy + 0.10, call rate >= 0.9.
No case is ever trained on (llmos's adapter learns from its own catalog, kernel/learn/recipe.py);
every 4th case was held out from tuning the prompt; accuracies are printed for dev and heldout apart.

    python bench/toolcall.py [--model default|gemma-3-270m] [--split dev|heldout|all] [--limit N]
                             [--threads N] [--sides bare,llmos_required,llmos_auto[,bare_tuned]] [--dump FILE.jsonl] [--json]
"""

from __future__ import annotations

import json
import sys
import time

from _common import models_dir, parser, report, same_weights
from toolcall_score import SPLITS, load_cases, score

SYSTEM = ("You can call the function below. Answer the user by calling it: reply with only the JSON "
          "object of its arguments.\n\nFunction:\n{tool}")
SIDES = ("bare", "llmos_required", "llmos_auto")
MAX_TOKENS = 192  # over twice the longest expected arguments (87 tokens); a longer output ran away


def _progress(total: int, what: str):
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    bar.start()
    task = bar.add_task(what, total=total)
    return bar, lambda: bar.advance(task)


def run_bare(cases: list[dict], model: str, threads: int | None = None, *, tuned: bool = False) -> list[dict | None]:
    """One call per case: {"name", "arguments"} (the grammar makes every output a call of the tool).
    The model's file without llmos's adapter, as a user loads it bare; `tuned`: the file llmos
    loads for `model` (for `default`, the weights with llmos's adapter folded in)."""
    from llama_cpp import Llama, LlamaGrammar
    from llmos.drivers.llama_cpp import cpu_threads
    from llmos.drivers.models import ModelStore

    store = ModelStore(models_dir())
    path = store.weights(model)[0] if tuned else store.resolve(model)
    threads = threads or cpu_threads()
    llm = same_weights(lambda: Llama(model_path=str(path), n_ctx=4096, n_batch=512, n_threads=threads,
                                     n_threads_batch=threads, verbose=False))
    # A file without a chat template (the Gemma 3 base model) gets Gemma's turns, with the system
    # text at the head of the user turn, as llama.cpp's own gemma template (and llmos) does it.
    gemma_turns = (not llm.metadata.get("tokenizer.chat_template")
                   and len(llm.tokenize(b"<start_of_turn>", add_bos=False, special=True)) == 1)
    if gemma_turns:
        llm.chat_format = "gemma"
    calls = []
    bar, advance = _progress(len(cases), f"bare {model}")
    try:
        for case in cases:
            tool = case["tool"]
            system = SYSTEM.format(tool=json.dumps(tool))
            messages = ([{"role": "user", "content": f"{system}\n\n{case['question']}"}] if gemma_turns else
                        [{"role": "system", "content": system}, {"role": "user", "content": case["question"]}])
            grammar = LlamaGrammar.from_json_schema(json.dumps(tool["parameters"]), verbose=False)
            out = llm.create_chat_completion(messages, grammar=grammar, temperature=0.0, top_k=1,
                                             repeat_penalty=1.0, max_tokens=MAX_TOKENS)
            text = out["choices"][0]["message"]["content"]
            try:
                args = json.loads(text)
            except ValueError:  # cut off at MAX_TOKENS: kept as text (--dump shows it), scored wrong
                args = text
            calls.append({"name": tool["name"], "arguments": args})
            advance()
    finally:
        bar.stop()
    return calls



def no_tool_cases() -> list[dict]:
    """The chat suite's questions, each paired with one suite tool it does not need."""
    from chat_suite import QUESTIONS
    from toolcall_score import load_tools

    tools = list(load_tools().values())
    return [{"question": q, "tool": tools[i * 7 % len(tools)]} for i, (q, _) in enumerate(QUESTIONS)]


def run_llmos(cases: list[dict], model: str, tool_choice: str) -> list[dict | None]:
    """Each case's tool registered through the public path, its question a process granted only
    that tool (bench/toolcall_llmos.py)."""
    from toolcall_llmos import run_llmos as run

    bar, advance = _progress(len(cases), f"llmos {tool_choice} {model}")
    try:
        return run(cases, model, tool_choice, advance=advance)
    finally:
        bar.stop()


# ---------------------------------------------------------------------------------------------


def _accuracy(cases: list[dict], calls: list[dict | None]) -> dict[str, float | None]:
    """Share of right calls, over all the cases and over each split."""
    marks = [score(call, c["tool"], c["expected"])[0] for c, call in zip(cases, calls, strict=True)]
    out: dict[str, float | None] = {"all": sum(marks) / len(marks)}
    for split in SPLITS:
        mine = [m for c, m in zip(cases, marks, strict=True) if c["split"] == split]
        out[split] = sum(mine) / len(mine) if mine else None
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--split", choices=["all", *SPLITS], default="all")
    p.add_argument("--limit", type=int, default=None, help="only the first N cases of the split")
    p.add_argument("--threads", type=int, default=None,
                   help="llama.cpp threads for the bare side (default: all cores; on cores shared with "
                        "other work, 1 is far faster)")
    p.add_argument("--sides", default=",".join(SIDES),
                   help="comma-separated sides to run (default: all three); the others' keys are null")
    p.add_argument("--dump", default=None, help="write every case's call and verdict to this JSONL file")
    a = p.parse_args()
    chosen = a.sides.split(",")
    if not chosen or set(chosen) - {*SIDES, "bare_tuned"}:
        p.error(f"--sides takes a comma-separated subset of {','.join(SIDES)},bare_tuned")
    cases = load_cases(a.split)[: a.limit]
    if not cases:
        sys.exit("no cases selected")

    sides: dict[str, list[dict | None] | None] = {}
    seconds: dict[str, float] = {}
    runners = {"bare": lambda: run_bare(cases, a.model, a.threads),
               "bare_tuned": lambda: run_bare(cases, a.model, a.threads, tuned=True),
               "llmos_required": lambda: run_llmos(cases, a.model, "required"),
               "llmos_auto": lambda: run_llmos(cases, a.model, "auto")}
    for side, run in runners.items():
        if side not in chosen:
            sides[side] = None
            continue
        t0 = time.perf_counter()
        sides[side] = run()
        seconds[side] = round(time.perf_counter() - t0, 1)

    false_calls = None
    if "llmos_auto" in chosen:
        t0 = time.perf_counter()
        unneeded = run_llmos(no_tool_cases(), a.model, "auto")
        seconds["llmos_auto"] += round(time.perf_counter() - t0, 1)
        false_calls = sum(c is not None for c in unneeded) / len(unneeded)

    acc = {side: _accuracy(cases, calls) if calls else None for side, calls in sides.items()}
    auto = sides["llmos_auto"]
    result = {"model": a.model, "split": a.split, "n": len(cases),
              "n_dev": sum(c["split"] == "dev" for c in cases),
              "n_heldout": sum(c["split"] == "heldout" for c in cases)}
    for side in runners:
        for part, suffix in (("all", ""), ("dev", "_dev"), ("heldout", "_heldout")):
            value = acc[side][part] if acc[side] else None
            result[f"{side}_accuracy{suffix}"] = None if value is None else round(value, 4)
    result["llmos_auto_call_rate"] = None if auto is None else round(sum(c is not None for c in auto) / len(auto), 4)
    result["llmos_auto_false_call_rate"] = None if false_calls is None else round(false_calls, 4)
    result.update({f"seconds_{side}": seconds.get(side) for side in runners})
    if a.dump:
        with open(a.dump, "w") as f:
            for k, case in enumerate(cases):
                row = {"id": case["id"], "split": case["split"]}
                for side, calls in sides.items():
                    if calls is not None:
                        ok, why = score(calls[k], case["tool"], case["expected"])
                        row[side] = {"call": calls[k], "ok": ok, "why": why}
                f.write(json.dumps(row) + "\n")

    def fmt(side: str) -> str:
        if acc[side] is None:
            return "not measured"
        parts = [f"{acc[side][p]:.3f}" if acc[side][p] is not None else "-" for p in ("all", *SPLITS)]
        return f"{parts[0]}  (dev {parts[1]}, heldout {parts[2]})  {seconds[side]:.0f}s"

    lines = [f"model {a.model}: {len(cases)} cases ({result['n_dev']} dev, {result['n_heldout']} heldout)",
             f"  bare model + JSON-schema grammar: {fmt('bare')}",
             *([f"  the same on llmos's weights:     {fmt('bare_tuned')}"] if acc["bare_tuned"] else []),
             f"  llmos, tool choice required:     {fmt('llmos_required')}",
             f"  llmos, tool choice auto:         {fmt('llmos_auto')}"]
    if auto is not None:
        lines.append(f"  auto call rate {result['llmos_auto_call_rate']:.2f} on questions that need the tool, "
                     f"{result['llmos_auto_false_call_rate']:.2f} on chat questions that need none")
    if acc["bare"] and acc["llmos_required"]:
        lines.append(f"  required - bare: {acc['llmos_required']['all'] - acc['bare']['all']:+.3f} (goal >= +0.10)")
    report(result, a.json, lines)


if __name__ == "__main__":
    main()
