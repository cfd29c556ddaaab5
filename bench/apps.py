"""The built-in apps' success rates on a small suite, each against the bare model given the same
request in one plain prompt, measured side by side in one run.

What counts as a success is what a user would notice (the same checks as the real-model tests):
summarize: shorter than its input, keeps a key term, not a loop (written by the model: the
extractive fallback counts as a miss); translate: not its input, in the target language (one of
its common words), not a loop, and holding one of the words a right translation has; code: the
Python parses and defines something (it is not run, so not checked for being right); assistant: the
right answer (a regex); notes: a later search finds the note; files: exactly the matching files.

    taskset -c 1 .venv/bin/python bench/apps.py [--apps summarize,code] [--n 8] [--show] [--json]
"""

from __future__ import annotations

import json
import re
import shlex
import time

from _common import parser, temp_home
from apps_suite import CODE_REQUESTS, FILES, MARKERS, NOTES, QUESTIONS, TEXTS, TRANSLATIONS

APPS = ["summarize", "translate", "code", "assistant", "notes", "files"]
WORDS = 40  # the summary length asked for


class Bench:
    def __init__(self, k, show: bool):
        self.k, self.show = k, show

    def app(self, name: str, *args: str, files: dict[str, str] | None = None) -> tuple[int, str, object]:
        """Run app `name` as `llmos app run` would (`files` put in its workspace, as it copies them)."""
        from pathlib import Path

        from llmos.apps.launch import launch, run_code_app
        from llmos.apps.registry import find

        app = find(self.k.home, name)
        p = launch(self.k, name, shlex.join(args))
        for rel, text in (files or {}).items():
            (Path(p.workspace) / rel).write_text(text)
        status, text = run_code_app(self.k, app, p)
        return status, text, p

    def bare(self, prompt: str, max_tokens: int = 256) -> str:
        from llmos.syscalls.errno import SyscallError

        try:
            return self.k.call("llm.chat", {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                                            "temperature": 0.0}).text.strip()
        except SyscallError as err:
            return f"{err.code}: {err.message}"

    def say(self, ok: bool, what: str, out: str) -> bool:
        if self.show:
            print(f"  {'ok' if ok else 'NO'} {what}: {' '.join(out.split())[:160]}", flush=True)
        return ok

    # -- one function per app: (app successes, baseline successes, n) -------------------------

    def summarize(self, n: int) -> tuple[int, int, int]:
        from llmos.apps.builtin.summarize import good

        a = b = 0
        for text in TEXTS[:n]:
            status, out, _ = self.app("summarize", "text.txt", "--words", str(WORDS), files={"text.txt": text})
            a += self.say(status == 0 and "own sentences" not in out and good(out, text), "app", out)
            raw = self.bare(f"Summarize this text in at most {WORDS} words:\n\n{text}", 2 * WORDS + 32)
            b += self.say(good(raw, text), "bare", raw)
        return a, b, len(TEXTS[:n])

    def translate(self, n: int) -> tuple[int, int, int]:
        from llmos.apps.builtin.common import trim_repeats
        from llmos.apps.builtin.translate import differs

        def right(out: str, src: str, lang: str, key: set[str]) -> bool:
            """Not its input, in the target language, not a loop, and holding one of the words a
            right translation has (the form alone is easy: `Bonjour, merde!` is French)."""
            words = set(re.findall(r"[\w']+", out.lower()))
            looping = len(trim_repeats(out)) < 0.8 * len(out)
            return differs(out, src) and bool(words & MARKERS[lang]) and not looping and bool(words & key)

        a = b = 0
        for src, lang, key in TRANSLATIONS[:n]:
            status, out, _ = self.app("translate", src, "--to", lang)
            a += self.say(status == 0 and right(out, src, lang, key), f"app {lang}", out)
            raw = self.bare(f"Translate into {lang}: {src}", 96)
            b += self.say(right(raw, src, lang, key), f"bare {lang}", raw)
        return a, b, len(TRANSLATIONS[:n])

    def code(self, n: int) -> tuple[int, int, int]:
        from llmos.apps.builtin.code import code_block, substantial

        a = b = 0
        for i, request in enumerate(CODE_REQUESTS[:n]):
            out_name = f"bench_{i}.py"
            status, out, _ = self.app("code", request, "--out", out_name)
            path = self.k.workspace / out_name
            ok = status == 0 and path.exists() and substantial(path.read_text())
            a += self.say(ok, "app", out + (" | " + path.read_text() if path.exists() else ""))
            path.unlink(missing_ok=True)  # the workspace is the files bench's too
            raw = self.bare(f"Write Python code for this request: {request}", 512)
            b += self.say(substantial(code_block(raw)), "bare", raw)
        return a, b, len(CODE_REQUESTS[:n])

    def assistant(self, n: int) -> tuple[int, int, int]:
        a = b = 0
        for q, pattern in QUESTIONS[:n]:
            status, out, _ = self.app("assistant", q)
            a += self.say(status == 0 and bool(re.search(pattern, out, re.I)), f"app {q}", out)
            raw = self.bare(q)
            b += self.say(bool(re.search(pattern, raw, re.I)), f"bare {q}", raw)
        return a, b, len(QUESTIONS[:n])

    def notes(self, n: int) -> tuple[int, int, int]:
        cases = NOTES[:n]
        for note, _, _ in cases:
            self.app("notes", "remember", note)
        a = b = 0
        for note, query, word in cases:
            status, out, _ = self.app("notes", "search", query)
            first = out.splitlines()[0] if out else ""
            a += self.say(status == 0 and word in first.lower(), f"app {query}", first)
            self.bare(f"Remember this: {note}")  # a plain prompt has nothing to keep it in
            raw = self.bare(f"What did I note about {query}?")
            b += self.say(word in raw.lower(), f"bare {query}", raw)
        return a, b, len(cases)

    def files(self, n: int) -> tuple[int, int, int]:
        ws = self.k.workspace / "filesbench"
        for rel in FILES["workspace"]:
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / rel).write_text(f"content of {rel}\n")
        listing = "\n".join(FILES["workspace"])
        a = b = 0
        for pattern, want in FILES["searches"][:n]:
            status, out, _ = self.app("files", "find", pattern)
            got = {line.split("  (")[0].removeprefix("filesbench/") for line in out.splitlines() if "  (" in line}
            a += self.say(status == 0 and got == want, f"app {pattern}", out)
            raw = self.bare(f"These files are in my workspace:\n{listing}\n\nWhich files match {pattern!r}? "
                            "List only their paths.")
            named = {f for f in FILES["workspace"] if f in raw}
            b += self.say(named == want, f"bare {pattern}", raw)
        return a, b, len(FILES["searches"][:n])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--apps", default=",".join(APPS), help=f"which, in order (default all: {','.join(APPS)})")
    p.add_argument("--n", type=int, default=8, help="inputs per app (at most 8)")
    p.add_argument("--show", action="store_true", help="print every answer")
    ns = p.parse_args()
    from llmos.apps.registry import install_tools
    from llmos.kernel import Kernel

    results = {}
    with Kernel.boot(temp_home(), model=ns.model, slots=1, slot_ctx=4096) as k:
        install_tools(k)
        bench = Bench(k, ns.show)
        for name in ns.apps.split(","):
            t0 = time.perf_counter()
            if ns.show:
                print(name, flush=True)
            a, b, n = getattr(bench, name)(ns.n)
            results[name] = {"app": a / n, "baseline": b / n, "n": n, "seconds": round(time.perf_counter() - t0, 1)}
            r = results[name]
            print(f"{name:<10} app {a}/{n} = {r['app']:.0%}   bare model {b}/{n} = {r['baseline']:.0%}   "
                  f"{r['seconds']:.0f} s", flush=True)
    if ns.json:
        print(json.dumps({"model": ns.model, "results": results}))


if __name__ == "__main__":
    main()
