"""`llmos serve` under load: 16 openai clients at once vs the same 16 requests one at a time.

One `llmos serve` process (the default model, 16 slots), the official `openai` client, greedy
chat requests of `--tokens` tokens with EOS ignored (so both sides generate the same amount).
The baseline sends the 16 requests one after another, waiting for each answer, as a single
client would; then 16 clients send them at once and the kernel's scheduler batches their
decoding. Keys: `tokens_per_s_one_at_a_time`, `tokens_per_s_16_clients`, `speedup_16` (the
ratio), `all_answered`.

    python bench/serve.py [--clients 16] [--tokens 64] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from _common import parser, report, temp_home


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--tokens", type=int, default=64)
    a = p.parse_args()
    import openai

    home, port = temp_home(), free_port()
    log = Path(home) / "serve.log"
    args = [sys.executable, "-m", "llmos.shell.cli", "serve", "--model", a.model, "--port", str(port),
            "--slots", str(a.clients), "--ctx", "1024"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "LLMOS_HOME": str(home)})
    try:
        url = f"http://127.0.0.1:{port}/v1"
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    sys.exit(f"llmos serve exited: {log.read_text()[-2000:]}")
                time.sleep(0.2)

        def ask(i: int) -> int:
            c = openai.OpenAI(base_url=url, api_key="none", timeout=600)
            r = c.chat.completions.create(model=a.model, max_tokens=a.tokens, temperature=0,
                                          extra_body={"ignore_eos": True},
                                          messages=[{"role": "user", "content": f"Tell me about topic number {i}."}])
            return r.usage.completion_tokens

        ask(99)  # warm up: the model is loaded, the first prompt prefilled
        t0 = time.perf_counter()
        seq_tokens = sum(ask(i) for i in range(a.clients))
        t_seq = time.perf_counter() - t0

        got: list[int] = []
        threads = [threading.Thread(target=lambda i=i: got.append(ask(i))) for i in range(a.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t_par = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)
    one, many = seq_tokens / t_seq, sum(got) / t_par
    result = {"clients": a.clients, "tokens": a.tokens, "tokens_per_s_one_at_a_time": round(one, 1),
              "tokens_per_s_16_clients": round(many, 1), "speedup_16": round(many / one, 2),
              "all_answered": len(got) == a.clients and all(g > 0 for g in got)}
    report(result, a.json, [f"one client at a time: {one:.1f} tokens/s ({t_seq:.1f} s)",
                            f"{a.clients} clients at once:  {many:.1f} tokens/s ({t_par:.1f} s)",
                            f"speedup: {many / one:.2f}x; all answered: {result['all_answered']}"])


if __name__ == "__main__":
    main()
