"""Completion in the REPL: commands, syscall names and their argument names, app, tool and
model names, settings, process ids and workspace paths."""

from __future__ import annotations

import shlex

from prompt_toolkit.completion import Completer, Completion

from .registry import for_


class ShellCompleter(Completer):
    def __init__(self, repl):
        self.repl = repl

    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        words = text.split(" ")
        word = words[-1]
        if len(words) == 1:
            for name, cmd in for_("repl").items():
                if ("/" + name).startswith(word):
                    yield Completion("/" + name, -len(word), display_meta=cmd.help[:60])
            return
        for choice in self.choices(words[0][1:], words[1:-1], word):
            if choice.startswith(word):
                yield Completion(choice, -len(word))

    def choices(self, cmd: str, done: list[str], word: str) -> list[str]:
        k = self.repl.k
        if cmd == "call":
            if not done:
                return sorted(k.table)
            spec = k.table.get(done[0])
            if spec is None:
                return []
            if "=" in word:
                key, _, value = word.partition("=")
                if key == "path":
                    return [f"path={p}" for p in self.paths(value)]
                if key == "name" and done[0] == "tool.call":
                    return [f"name={t.name}" for t in k.tools.granted(_root())]
                return []
            given = {w.partition("=")[0] for w in done[1:]}
            return [f"{n}=" for n in spec.args.model_fields if n not in given]
        if done:
            return []
        if cmd in ("syscalls",):
            return sorted({s.family for s in k.table.values()} | set(k.table))
        if cmd == "help":
            return list(for_("repl"))
        if cmd == "app":
            from ..apps.registry import discover

            return sorted(discover(k.home)[0])
        if cmd in ("kill", "log"):
            return [str(p.pid) for p in k.procs.list(all=cmd == "log")]
        if cmd == "model":
            return [e.spec for e in k.models.entries()]
        if cmd == "set":
            from .chat import SETTABLE

            return list(SETTABLE)
        if cmd == "mem":
            return ["stat", "search", "core", "forget"]
        return []

    def paths(self, prefix: str) -> list[str]:
        """Workspace entries under the folder `prefix` names."""
        root = self.repl.k.workspace
        folder, _, _ = prefix.rpartition("/")
        base = (root / folder) if folder else root
        try:
            entries = sorted(base.iterdir())
        except OSError:
            return []
        lead = f"{folder}/" if folder else ""
        return [shlex.quote(lead + p.name + ("/" if p.is_dir() else "")) for p in entries]


def _root():
    from ..syscalls.caps import ROOT

    return ROOT
