"""Memory commands: `llmos mem stat | search | core | forget`, each one mem.* syscall."""

from __future__ import annotations

from .registry import command
from .render import to_json


def _args(p) -> None:
    acts = p.add_subparsers(dest="mem_action", metavar="ACTION")
    a = acts.add_parser("stat", help="pages resident and paged out, tokens, index sizes")
    a.add_argument("--pid", type=int, help="only this process (default: all)")
    a.add_argument("--json", action="store_true")
    a = acts.add_parser("search", help="search conversations, archival facts and core memory")
    a.add_argument("query", nargs="+", help="what to look for, in words; meaning counts")
    a.add_argument("--k", type=int, default=5, metavar="N", help="most hits (default 5)")
    a.add_argument("--json", action="store_true")
    a = acts.add_parser("core", help="show the pinned core memory, or replace it with --set")
    a.add_argument("--set", metavar="TEXT", help="new core memory ('' clears it)")
    a.add_argument("--json", action="store_true")
    a = acts.add_parser("forget", help="forget one memory item for good, by id")
    a.add_argument("id", type=int, help="item id, as `llmos mem search` shows it")
    a.add_argument("--json", action="store_true")


@command("mem", "memory: stat (the default), search Q, core [--set TEXT], forget ID", args=_args,
         usage="[stat | search Q | core | forget ID]")
def mem(env, ns) -> int:
    k = env.k
    act = ns.mem_action or "stat"
    if act == "stat" and not hasattr(ns, "pid"):
        ns.pid, ns.json = None, False
    if act == "stat":
        r = k.call("mem.stat", {"pid": ns.pid} if ns.pid is not None else {})
        if ns.json:
            env.out.line(to_json(r))
            return 0
        who = f"pid {r.pid}" if r.pid is not None else "all processes"
        env.out.line(f"memory of {who}")
        env.out.line(f"  messages     {r.messages:>8}  resident {r.resident} ({r.resident_tokens} tokens), "
              f"paged out {r.paged_out} ({r.paged_out_tokens} tokens) in {r.pages} pages")
        env.out.line(f"  summaries    {r.summaries:>8}")
        env.out.line(f"  archival     {r.archival:>8}  core blocks {r.core_blocks}")
        env.out.line(f"  word index   {r.fts_rows:>8}  vector index {r.vector_rows}, {r.pending_embeddings} waiting to be embedded")
        return 0
    if act == "search":
        r = k.call("mem.recall", {"query": " ".join(ns.query), "k": ns.k})
        if ns.json:
            env.out.line(to_json(r))
            return 0
        if not r.hits:
            env.out.line("no matches")
        for h in r.hits:
            where = {"conversation": f"pid {h.pid} message {h.message_id}" + (f" page {h.page}" if h.page else ""),
                     "archival": "archival" + (f" [{' '.join(h.tags)}]" if h.tags else ""),
                     "core": f"core of pid {h.pid}"}[h.source]
            text = " ".join(h.text.split())
            env.out.line(f"{h.id:>7}  {h.score:.4f}  {where}\n         {text[:200] + ('…' if len(text) > 200 else '')}")
        return 0
    if act == "core":
        r = k.call("mem.core", {"text": ns.set} if ns.set is not None else {})
        if ns.json:
            env.out.line(to_json(r))
        elif ns.set is not None:
            env.out.line(f"core memory set ({r.chars}/{r.limit} characters)" if r.text else "core memory cleared")
        else:
            env.out.line(r.text if r.text else "(core memory is empty; set it with `llmos mem core --set TEXT`)")
        return 0
    r = k.call("mem.forget", {"id": ns.id})
    env.out.line(to_json(r) if ns.json else f"forgot {r.source} item {r.id}")
    return 0

