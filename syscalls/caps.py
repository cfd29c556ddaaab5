"""Capabilities: which syscalls a caller may make, optionally narrowed to a scope.

A capability is `PATTERN[:SCOPE]`: PATTERN matches syscall names (`fs.read`, `fs.*`, `*`),
SCOPE is a glob over what the call touches (a workspace-relative path for `fs.*`, a tool name
for `tool.call`). In scopes `*` stays inside one path segment and `**` crosses them; a leading
`workspace/` names the workspace root itself, so `fs.read:workspace/**` is "read anything".
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=512)
def _scope_regex(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            if glob.startswith("/", i):  # `a/**/b` also matches `a/b`
                out[-1] = "(?:.*/)?"
                i += 1
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _norm_scope(glob: str) -> str:
    if glob == "workspace" or glob.startswith("workspace/"):
        glob = glob[len("workspace") :].lstrip("/") or "**"
    return glob


def _name_within(inner: str, outer: str) -> bool:
    """Every syscall name `inner` matches is matched by `outer` too (`fs.read` within `fs.*`)."""
    return fnmatch.fnmatchcase(inner, outer)


def _scope_within(inner: str | None, outer: str | None) -> bool:
    """A conservative glob-subset test: True only when `inner` surely matches no more than `outer`."""
    if outer is None:
        return True
    if inner is None:  # an unscoped grant also allows calls without a scope; a scoped one never does
        return False
    if outer == "**" or inner == outer:
        return True
    if not any(c in inner for c in "*?") and _scope_regex(outer).match(inner):
        return True  # a literal path the outer glob matches (a glob's `*` is not a literal `*`)
    if outer.endswith("/**"):
        return inner.startswith(outer[:-2])
    return False


@dataclass(frozen=True)
class Capability:
    pattern: str
    scope: str | None = None

    def within(self, other: Capability) -> bool:
        return _name_within(self.pattern, other.pattern) and _scope_within(self.scope, other.scope)

    def meet(self, other: Capability) -> Capability | None:
        """The capability both allow, or None (used for manifest ∩ grants)."""
        if self.within(other):
            return self
        if other.within(self):
            return other
        return None

    @classmethod
    def parse(cls, text: str) -> Capability:
        text = text.strip()
        if not text:
            raise ValueError("empty capability")
        name, sep, scope = text.partition(":")
        if not re.fullmatch(r"[a-z*][a-z0-9_*]*(\.[a-z0-9_*]+)?", name):
            raise ValueError(f"bad capability {text!r}: expected e.g. fs.read, fs.*, fs.write:out/*.md")
        return cls(name, _norm_scope(scope) if sep else None)

    def covers_name(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)

    def allows(self, name: str, scope: str | None) -> bool:
        if not self.covers_name(name):
            return False
        if self.scope is None:
            return True
        if scope is None:
            return False
        return bool(_scope_regex(self.scope).match(scope))

    def __str__(self) -> str:
        return self.pattern if self.scope is None else f"{self.pattern}:{self.scope}"


class CapSet:
    """An immutable set of capabilities: the union of what each one allows."""

    def __init__(self, caps: list[Capability] | tuple[Capability, ...] = ()):
        self.caps = tuple(caps)

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> CapSet:
        return cls([Capability.parse(t) for t in items])

    def allows(self, name: str, scope: str | None = None) -> bool:
        return any(c.allows(name, scope) for c in self.caps)

    def names_allowed(self, names: list[str]) -> list[str]:
        """The syscall names any capability here covers (ignoring scopes)."""
        return [n for n in names if any(c.covers_name(n) for c in self.caps)]

    def covers(self, cap: Capability) -> bool:
        return any(cap.within(c) for c in self.caps)

    def intersect(self, other: CapSet) -> CapSet:
        """What both sets allow: each pair's meet (manifest ∩ grants, parent ∩ request)."""
        out: list[Capability] = []
        for a in self.caps:
            for b in other.caps:
                m = a.meet(b)
                if m is not None and m not in out:
                    out.append(m)
        return CapSet(out)

    def strings(self) -> list[str]:
        return [str(c) for c in self.caps]

    def __str__(self) -> str:
        return ", ".join(str(c) for c in self.caps) or "(nothing)"

    def __iter__(self):
        return iter(self.caps)


ROOT = CapSet.parse(["*"])
