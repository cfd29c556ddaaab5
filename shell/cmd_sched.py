"""Scheduler commands: batch (many prompts or tasks through the scheduler), top (a live view)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from ..kernel.scheduler import BATCH, priority_name, read_stats
from ..syscalls.errno import Errno, SyscallError
from .registry import command

SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "seed", "stop")


def _batch_args(p) -> None:
    p.add_argument("file", help='JSONL: one {"prompt": ...}, {"messages": [...]} or {"task": ...} per line')
    p.add_argument("--out", metavar="FILE", help="write the results here (JSONL, input order); default stdout")
    p.add_argument("--max-tokens", type=int, default=128, metavar="N", help="default max_tokens per line")
    p.add_argument("--temperature", type=float, default=0.0, help="default temperature per line (0: greedy)")


def _top_args(p) -> None:
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between frames")


def _read_jobs(path: str) -> list[dict]:
    try:
        lines = Path(path).read_text().splitlines() if path != "-" else sys.stdin.read().splitlines()
    except OSError as exc:
        raise SyscallError(Errno.ENOENT, f"cannot read {path}: {exc.strerror}") from None
    jobs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError as exc:
            raise SyscallError(Errno.EINVAL, f"{path}:{n}: not JSON ({exc.msg}); one JSON object per line") from None
        if not isinstance(job, dict) or sum(k in job for k in ("prompt", "messages", "task")) != 1:
            raise SyscallError(Errno.EINVAL, f'{path}:{n}: give exactly one of "prompt", "messages" or "task"')
        jobs.append(job)
    return jobs


@command("batch", "run a JSONL file of prompts, chats or tasks through the scheduler (batch priority)",
         args=_batch_args, where=("cli",))
def batch(env, ns) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    k = env.k
    jobs = _read_jobs(ns.file)
    # Many short jobs: more, smaller slots than an interactive session, unless told otherwise
    # (batched decoding gains most at 16: see bench/multiplex.py).
    k.prefer_size(slots=max(1, min(16, len(jobs))), slot_ctx=2048)
    k.driver()  # a model that cannot load is one clear line, not one per job
    if any("task" in job for job in jobs):
        k.driver(agent=True)  # and the weights the tasks' processes decode with
    results: list[dict | None] = [None] * len(jobs)
    tokens = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def run(i: int, job: dict) -> None:
        out: dict = {"index": i, **({"id": job["id"]} if "id" in job else {})}
        try:
            if "task" in job:
                from ..apps.launch import launch

                proc = launch(k, job.get("app", "agent"), str(job["task"]), priority=BATCH)
                for _ in k.run(proc.pid, temperature=float(job.get("temperature", ns.temperature))):
                    pass
                p = k.procs.get(proc.pid)
                out.update(pid=p.pid, state=p.state, status=p.exit_status, reason=p.exit_reason, reply=p.reply,
                           completion_tokens=p.spent.tokens)
            else:
                # Through llm.* like every other generation: validated, journaled, batch priority.
                args = {"max_tokens": ns.max_tokens, "temperature": ns.temperature,
                        **{key: job[key] for key in SAMPLING_KEYS if key in job}}
                name = "llm.chat" if "messages" in job else "llm.complete"
                args["messages" if "messages" in job else "prompt"] = job.get("messages", job.get("prompt"))
                ctx = k.context()
                ctx.priority, ctx.one_shot = BATCH, True
                out.update(k.call(name, args, ctx=ctx).model_dump())
        except SyscallError as err:
            out["error"] = {"errno": str(err.code), "message": err.message}
        except Exception as exc:  # a driver error ends this line, not the batch
            out["error"] = {"errno": str(getattr(exc, "code", "EIO")), "message": str(exc)}
        with lock:
            results[i] = out
            tokens[0] += out.get("completion_tokens") or 0

    with Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                  TimeElapsedColumn(), console=_stderr(), transient=False) as bar:
        task = bar.add_task("batch", total=len(jobs), rate="")
        threads = []
        for i, job in enumerate(jobs):
            t = threading.Thread(target=run, args=(i, job), daemon=True)
            t.start()
            threads.append(t)
        while any(r is None for r in results):
            done = sum(r is not None for r in results)
            rate = tokens[0] / max(1e-6, time.monotonic() - t0)
            bar.update(task, completed=done, rate=f"{rate:.1f} tok/s")
            time.sleep(0.1)
        for t in threads:
            t.join()
        bar.update(task, completed=len(jobs), rate=f"{tokens[0] / max(1e-6, time.monotonic() - t0):.1f} tok/s")
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if ns.out:
        Path(ns.out).write_text(lines)
        print(f"{len(jobs)} results in {ns.out}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return 1 if any("error" in r for r in results) else 0


def _stderr():
    from rich.console import Console

    return Console(file=sys.stderr)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def frame(k):
    """One view: the model-level scheduler figures, then a row per live process."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    stats = read_stats(k.home / "run")
    by_pid: dict[int, dict] = {}
    idle: dict[str, dict] = {}
    head = []
    for st in stats:
        head.append(f"model {st['model'] or '?'} (host pid {st['host_pid']}): {st['slots_busy']}/{st['slots']} slots busy, "
                    f"{st['waiting']} waiting, {st['tokens_per_s']:.1f} tok/s, {st['tokens_total']} tokens, "
                    f"swaps {st['swaps_out']} out / {st['swaps_in']} in, swapped KV {_size(st['ram_bytes'])} RAM "
                    f"+ {_size(st['disk_bytes'])} disk")
        for r in st["requests"]:
            if r["pid"] is not None:
                by_pid[r["pid"]] = r
        for i in st["idle"]:
            idle[i["key"]] = i
    if not head:
        head.append("model: no scheduler running (nothing is generating)")
    t = Table(box=None, pad_edge=False)
    for col in ("PID", "APP", "STATE", "PRIO", "WHERE", "TOK/S", "TOKENS", "KV", "TASK"):
        t.add_column(col, justify="right" if col in ("PID", "TOK/S", "TOKENS", "KV") else "left")
    for p in k.procs.list():
        r = by_pid.get(p.pid)
        i = idle.get(str(p.pid))
        state = r["state"] if r else p.state
        where = r["where"] if r else (i["where"] if i else "-")
        kv = r["kv_bytes"] if r else (i["bytes"] if i else 0)
        t.add_row(str(p.pid), p.app, state, priority_name(p.priority), where,
                  f"{r['tokens_per_s']:.1f}" if r else "-", f"{p.spent.tokens}/{p.quotas.tokens}",
                  _size(kv) if kv else "-", p.task[:40])
    batch_rows = [r for st in stats for r in st["requests"] if r["pid"] in (None, 0)]
    extra = Text(f"+ {len(batch_rows)} shell/batch requests "
                 f"({sum(r['state'] == 'running' for r in batch_rows)} running)") if batch_rows else Text("")
    return Group(*(Text(h) for h in head), t, extra)


@command("top", "processes and the model's scheduler (a live view in the CLI, one frame in the REPL)",
         args=_top_args)
def top(env, ns) -> int:
    from rich.console import Console
    from rich.live import Live

    k = env.k
    if ns.once or env.repl is not None:
        env.out.rich(frame(k))
        return 0
    console = Console()
    try:
        with Live(frame(k), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(ns.interval)
                live.update(frame(k))
    except KeyboardInterrupt:
        return 0

