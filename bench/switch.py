"""Context switch: restore a 2,048-token process's KV from RAM and from disk vs re-prefilling it.

Same driver, same tokens, same run. A swapped-out process comes back with
llama_state_seq_set_data (from RAM, or read from its spill file first); the baseline is what a
framework without KV virtual memory does: read the whole prompt again. Keys `ratio_2048_ram`
and `ratio_2048_disk` = prefill time over restore time. Goal: >= 100x both.

    python bench/switch.py [--model default|gemma-3-270m] [--tokens 2048] [--reps 5] [--json]
"""

from __future__ import annotations

from _common import median, models_dir, parser, report, temp_home, timed

TEXT = "The kernel schedules processes, pages memory and answers system calls. "


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()

    from llmos.drivers.base import Sampling
    from llmos.drivers.llama_cpp import LlamaCppDriver
    from llmos.drivers.models import ModelStore
    from llmos.kernel.scheduler import SwapStore

    path = ModelStore(models_dir()).resolve(a.model)
    d = LlamaCppDriver(path, spec=a.model, n_ctx=max(4096, 2 * a.tokens + 64), n_seq=2)
    toks = d.tokenize(TEXT * (a.tokens // 8 + 8))[: a.tokens]
    one = Sampling(max_tokens=1, temperature=0)

    def prefill():  # from nothing: no slot may lend it a prefix
        d.reset_slot(0)
        d.reset_slot(1)
        d.generate(toks, one, slot=0)

    prefill()
    data, held = d.save_slot(0), list(d.slots[0])
    ram = SwapStore(temp_home() / "swap", ram_budget=1 << 40)
    disk = SwapStore(temp_home() / "swap", ram_budget=0)  # every image spills to a file
    ram.put("p", held, data)
    disk.put("p", held, data)
    assert disk.get("p").where == "disk" and ram.get("p").where == "ram"

    def restore(store):
        img = store.get("p")
        d.restore_slot(1, img.load(), img.tokens)

    for fn in (lambda: restore(ram), lambda: restore(disk)):
        fn()  # warm up
    t = {"prefill": [], "ram": [], "disk": []}
    for _ in range(a.reps):  # interleaved, so drift hits all alike
        t["prefill"].append(timed(prefill))
        t["ram"].append(timed(lambda: restore(ram)))
        t["disk"].append(timed(lambda: restore(disk)))
    # The restored slot continues exactly like the prefilled one.
    ref = d.generate(toks, Sampling(max_tokens=8, temperature=0), slot=0).text
    d.reset_slot(0)
    same = d.generate(toks, Sampling(max_tokens=8, temperature=0), slot=1).text == ref
    m = {k: median(v) for k, v in t.items()}
    n = len(toks)
    result = {
        "model": a.model, "tokens": n, "reps": a.reps, "kv_bytes": len(data),
        "prefill_ms": round(m["prefill"] * 1e3, 2), "restore_ram_ms": round(m["ram"] * 1e3, 3),
        "restore_disk_ms": round(m["disk"] * 1e3, 3),
        f"ratio_{n}_ram": round(m["prefill"] / m["ram"], 1), f"ratio_{n}_disk": round(m["prefill"] / m["disk"], 1),
        "continues_the_same": same,
    }
    disk.clear()
    d.close()
    report(result, a.json, [
        f"model {a.model}, a {n}-token process, KV {len(data) / 1e6:.1f} MB, median of {a.reps}",
        f"  re-prefill:          {m['prefill'] * 1e3:9.1f} ms",
        f"  restore from RAM:    {m['ram'] * 1e3:9.2f} ms   ({result[f'ratio_{n}_ram']:.0f}x faster)",
        f"  restore from disk:   {m['disk'] * 1e3:9.2f} ms   ({result[f'ratio_{n}_disk']:.0f}x faster)",
        f"  continues the same: {same}",
    ])


if __name__ == "__main__":
    main()
