"""`llmos app list|info|install|remove|grant|revoke|run` (and the REPL's /apps, /app NAME TASK).

A third-party app gets only what a person grants: its first install or run asks on a terminal
(all, some or none of what it requests); without a terminal it gets nothing unless
`--grant CAP` or `--grant-all` says so. Grants go through the root-only sys.grant/sys.revoke.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..syscalls.caps import Capability
from ..syscalls.errno import Errno, SyscallError
from .registry import command

ACTIONS = ["list", "info", "install", "remove", "grant", "revoke", "run"]
STDIN_NAME = "in/stdin.txt"
COPY_LIMIT = 8 << 20  # most bytes of host files one run brings into its workspace


def _args(p) -> None:
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="install PATH|WHEEL; info|remove NAME; grant|revoke NAME CAP...; run NAME ARGS...")
    p.add_argument("--json", action="store_true", help="list, info, run: JSON")
    p.add_argument("--grant", action="append", metavar="CAP", help="install, run: grant CAP (repeatable)")
    p.add_argument("--grant-all", action="store_true", help="install, run: grant all the app asks for")


def own_flags(ns) -> list[str]:
    """Take llmos's own flags (--json, --grant CAP, --grant-all) out of the words, wherever they
    are (an app's own flags use other names); the words left."""
    words, rest = list(ns.words), []
    ns.grant = list(ns.grant or [])
    while words:
        w = words.pop(0)
        if w == "--json":
            ns.json = True
        elif w == "--grant-all":
            ns.grant_all = True
        elif w == "--grant":
            if not words:
                raise SyscallError(Errno.EINVAL, "--grant needs a capability, e.g. --grant fs.read")
            ns.grant.append(words.pop(0))
        elif w.startswith("--grant="):
            ns.grant.append(w.split("=", 1)[1])
        else:
            rest.append(w)
    return rest


@command("app", "list, inspect, install, remove, grant, revoke or run apps", args=_args, where=("cli",),
         usage="list|info|install|remove|grant|revoke|run ...")
def app(env, ns) -> int:
    words = own_flags(ns)
    if ns.action == "list":
        return list_apps(env, ns.json)
    if not words:
        what = "PATH|WHEEL" if ns.action == "install" else "NAME"
        raise SyscallError(Errno.EINVAL, f"say which app: llmos app {ns.action} {what}")
    if ns.action == "install":
        return install(env, words[0], ns.grant, ns.grant_all)
    if ns.action == "info":
        return info(env, words[0], ns.json)
    if ns.action == "remove":
        return remove(env, words[0])
    if ns.action in ("grant", "revoke"):
        return grant_or_revoke(env, ns.action, words[0], words[1:])
    return run_app(env, words[0], words[1:], as_json=ns.json, grant=ns.grant, grant_all=ns.grant_all)


# -- list, info ------------------------------------------------------------------------------


def rows(k) -> tuple[list[dict], list[dict]]:
    """(one dict per app, one per broken app with why)."""
    from ..apps.registry import discover

    apps, problems = discover(k.home)
    out = []
    for a in sorted(apps.values(), key=lambda a: a.name):
        m = a.manifest
        out.append({"name": a.name, "version": a.version, "kind": m.kind, "builtin": a.builtin,
                    "description": m.description, "requested": m.capabilities, "granted": k.grants.get(a.name),
                    "default_grants": m.default_grants if a.builtin else [], "source": a.source,
                    "tools": [t.name for t in a.tool_objects()]})
    broken = []
    for line in problems:
        origin, _, why = line.removeprefix("app ").partition(": ")
        broken.append({"app": origin, "why": why})
    return out, broken


def _granted(r: dict) -> str:
    if r["granted"] is None:
        return "not yet asked (defaults on first run)" if r["builtin"] else "not yet asked (nothing until granted)"
    return ", ".join(r["granted"]) or "nothing"


def list_apps(env, as_json: bool = False) -> int:
    found, broken = rows(env.k)
    if as_json:
        env.out.line(json.dumps({"apps": found, "broken": broken}, indent=2))
        return 0
    env.out.table(["APP", "VERSION", "KIND", "REQUESTED", "GRANTED", "SOURCE"], [
        [r["name"], r["version"], r["kind"], ", ".join(r["requested"]) or "nothing", _granted(r),
         "built-in" if r["builtin"] else r["source"]] for r in found])
    for b in broken:
        env.out.note(f"llmos: broken app {b['app']}: {b['why']}")
    return 0


def info(env, name: str, as_json: bool) -> int:
    from ..apps.registry import find

    app = find(env.k.home, name)
    r = next(r for r in rows(env.k)[0] if r["name"] == app.name)
    m = app.manifest
    r.update(workspace=m.workspace, max_steps=m.max_steps, max_tokens=m.max_tokens)
    if as_json:
        env.out.line(json.dumps(r, indent=2))
        return 0
    env.out.table(["KEY", "VALUE"], [
        ["name", r["name"]], ["version", r["version"]], ["kind", r["kind"]], ["what", r["description"]],
        ["source", "built-in" if r["builtin"] else r["source"]], ["requested", ", ".join(r["requested"]) or "nothing"],
        ["granted", _granted(r)], ["tools", ", ".join(r["tools"]) or "none"], ["workspace", m.workspace]])
    if m.default_grants and not app.builtin:
        env.out.note(f"llmos: {app.name} lists default grants; only built-in apps get them, so they are ignored")
    return 0


# -- consent ---------------------------------------------------------------------------------


def terminal_ask():
    """The grant question on a terminal, or None when stdin is not one (then nothing is granted)."""
    if not sys.stdin.isatty():
        return None

    def ask(app, caps: list[str]) -> list[str]:
        err = sys.stderr
        err.write(f"{app.name} ({app.source}) asks for:\n")
        for i, c in enumerate(caps, 1):
            err.write(f"  {i}. {c}\n")
        for _ in range(3):
            err.write("grant all, none, or some (numbers or capabilities, e.g. 1,3) [none]: ")
            err.flush()
            answer = sys.stdin.readline()
            picked = parse_answer(answer, caps)
            if picked is not None:
                return picked
            err.write("llmos: answer all, none, or numbers from the list\n")
        return []

    return ask


def parse_answer(answer: str, caps: list[str]) -> list[str] | None:
    """all / none / `1,3` / capability names -> the granted ones; None for an answer not understood."""
    words = [w for w in answer.replace(",", " ").split() if w]
    if not words or words[0].lower() in ("none", "n", "no"):
        return []
    if words[0].lower() in ("all", "a", "y", "yes"):
        return list(caps)
    out = []
    for w in words:
        if w.isdigit() and 1 <= int(w) <= len(caps):
            out.append(caps[int(w) - 1])
        elif w in caps:
            out.append(w)
        else:
            return None
    return list(dict.fromkeys(out))


def settle(env, app, grant: list[str] | None, grant_all: bool) -> list[str] | None:
    """The app's grants settled before it runs (asked on a terminal the first time)."""
    from ..apps.launch import consent

    now = consent(env.k, app, grant=grant, grant_all=grant_all, ask=terminal_ask())
    if now is not None and not (app.builtin and not grant and not grant_all):  # a built-in's defaults: quietly
        env.out.note(f"{app.name} granted: {', '.join(now) or 'nothing'}")
    return now


# -- install, remove, grant, revoke ------------------------------------------------------------


def install(env, target: str, grant: list[str], grant_all: bool) -> int:
    from ..apps.install import install as pip_install

    k = env.k
    apps = pip_install(k.home, Path(target).expanduser())
    for a in apps:
        env.out.line(f"installed {a.name} {a.version} ({a.manifest.kind}): {a.manifest.description}")
        settle(env, a, grant, grant_all)
    return 0


def remove(env, name: str) -> int:
    from ..apps.install import uninstall
    from ..apps.registry import find

    k = env.k
    app = find(k.home, name)
    uninstall(app)
    k.call("sys.revoke", {"app": app.name})
    k.grants.forget(app.name)
    env.out.line(f"removed {app.name}; its grants are gone")
    return 0


def grant_or_revoke(env, action: str, name: str, caps: list[str]) -> int:
    from ..apps.launch import requested
    from ..apps.registry import find

    k = env.k
    target = find(k.home, name)
    if action == "grant":
        if not caps:
            raise SyscallError(Errno.EINVAL, f"name the capabilities: llmos app grant {name} CAP...; "
                               f"it asks for {', '.join(target.manifest.capabilities) or 'nothing'}")
        now = k.call("sys.grant", {"app": target.name, "caps": requested(target, caps)}).granted
    else:
        for c in caps:
            try:
                Capability.parse(c)
            except ValueError as exc:
                raise SyscallError(Errno.EINVAL, f"{exc}; capabilities are lower case, e.g. fs.read") from None
        now = k.call("sys.revoke", {"app": target.name, "caps": caps or None}).granted
    env.out.line(f"{name} granted: {', '.join(now) or 'nothing'}")
    return 0


# -- run -------------------------------------------------------------------------------------


def bring_in(words: list[str], workspace: Path, stdin: bytes | None) -> tuple[list[str], list[tuple[Path | bytes, str]]]:
    """The app's words with host paths outside its workspace made workspace paths under in/,
    and the copies to make ((host path or stdin's bytes, workspace path)); stdin, when it
    brought something, as in/stdin.txt in place of `-` (or as the only argument)."""
    out, copies = [], []
    for w in words:
        p = Path(w).expanduser()
        if w == "-" and stdin is not None:
            out.append(STDIN_NAME)
            copies.append((stdin, STDIN_NAME))
            continue
        if _is_path(w, workspace):
            resolved = p.resolve()
            if resolved.is_relative_to(workspace):
                out.append(str(resolved.relative_to(workspace)) or ".")
                continue
            rel = f"in/{resolved.name or 'root'}"
            out.append(rel)
            copies.append((resolved, rel))
        else:
            out.append(w)
    if stdin and "-" not in words:  # piped in, with no file named: the input is stdin
        out.append(STDIN_NAME)
        copies.append((stdin, STDIN_NAME))
    return out, copies


def _is_path(word: str, workspace: Path) -> bool:
    """A word that names a file (or, with a `/`, a folder) on this machine and nothing in the
    app's workspace (there, the app's own name for it wins)."""
    if word in ("-", "") or word.startswith("--"):
        return False
    try:
        p = Path(word).expanduser()
        ours = not p.is_absolute() and (workspace / word).exists()
        return (p.is_file() or ("/" in word and p.is_dir())) and not ours
    except (OSError, ValueError):
        return False


def read_stdin() -> bytes:
    """What a pipe brings (nothing from a terminal, or where stdin cannot be read)."""
    try:
        return b"" if sys.stdin.isatty() else sys.stdin.buffer.read(COPY_LIMIT)
    except (OSError, ValueError, AttributeError):
        return b""


def copy_in(k, workspace: str, copies: list[tuple[Path | bytes, str]]) -> None:
    """Write the host files into the process's workspace as root (journaled syscalls)."""
    ctx = k.context(workspace=workspace)
    budget = [COPY_LIMIT]

    def put(rel: str, data: bytes) -> None:
        data = data[: max(0, budget[0])]
        budget[0] -= len(data)
        text = data.decode("utf-8", "replace")
        k.call("fs.write", {"path": rel, "content": text[:500_000], "parents": True}, ctx=ctx)
        for i in range(500_000, len(text), 500_000):
            k.call("fs.append", {"path": rel, "content": text[i:i + 500_000]}, ctx=ctx)

    for src, rel in copies:
        if isinstance(src, bytes):
            put(rel, src)
        elif src.is_dir():
            k.call("fs.mkdir", {"path": rel, "parents": True}, ctx=ctx)
            for f in sorted(src.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(src).parts):
                    put(f"{rel}/{f.relative_to(src).as_posix()}", f.read_bytes())
        else:
            put(rel, src.read_bytes())


def run_app(env, name: str, words: list[str], *, as_json: bool = False, grant: list[str] | None = None,
            grant_all: bool = False) -> int:
    from ..apps.launch import launch
    from ..apps.registry import find
    from .cmd_proc import drive

    k = env.k
    target = find(k.home, name)
    settle(env, target, grant, grant_all)
    shared = target.manifest.workspace == "shared"
    # Files named on the command line are brought to an app that reads files; a pipe, to one
    # that works in a folder of its own (summarize, translate).
    reads = any(Capability.parse(c).covers_name("fs.read") for c in target.manifest.capabilities)
    # where the process will work: the user's workspace, or its own folder (made at spawn)
    workspace = k.workspace if shared else Path("/nonexistent-workspace")
    names_a_file = any(_is_path(w, workspace) for w in words)
    piped = reads and not shared and env.repl is None and ("-" in words or not names_a_file)
    stdin = read_stdin() if piped else None
    args, copies = bring_in(words, workspace, stdin or None) if reads else (list(words), [])
    # a code app splits its task like a command line; a model reads it as words
    task = shlex.join(args) if target.manifest.kind == "code" else " ".join(args)
    proc = launch(k, target.name, task)
    if copies:
        copy_in(k, proc.workspace, copies)
    return drive(env, proc, target, as_json=as_json)


@command("apps", "list the installed apps and their grants", where=("repl",))
def apps(env, ns) -> int:
    return list_apps(env)


def _app_run_args(p) -> None:
    p.add_argument("name", help="the app")
    p.add_argument("task", nargs="*", help="what to ask it")


@command("app", "run app NAME on TASK, e.g. /app summarize notes.txt", args=_app_run_args, where=("repl",),
         usage="NAME TASK")
def app_run(env, ns) -> int:
    return run_app(env, ns.name, list(ns.task))
