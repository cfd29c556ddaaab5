"""Finding apps: entry points in group `llmos.apps` (built-ins included) and loose files.

A loose file is `$LLMOS_HOME/apps/NAME.py` defining `app = App(...)`. `LLMOS_APPS`, a comma
list of names, limits which load. A broken app is reported in one line and left out.
"""

from __future__ import annotations

import importlib.util
import os
from importlib.metadata import entry_points
from pathlib import Path

from pydantic import ValidationError

from ..syscalls.errno import Errno, SyscallError
from .sdk import App

BUILTIN_DIST = "llmos"  # apps of this distribution are the built-ins


def _from_file(path: Path) -> App:
    spec = importlib.util.spec_from_file_location(f"llmos_app_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    app = getattr(mod, "app", None)
    if not isinstance(app, App):
        raise ValueError("defines no `app = App(...)`")
    return app


def discover(home: Path) -> tuple[dict[str, App], list[str]]:
    """(apps by name, one-line problems)."""
    only = {n.strip() for n in os.environ.get("LLMOS_APPS", "").split(",") if n.strip()}
    apps: dict[str, App] = {}
    problems: list[str] = []

    def add(origin: str, load, *, source: str, dist: str | None = None, version: str | None = None) -> None:
        try:
            app = load()
        except Exception as exc:  # noqa: BLE001 - whatever an app's import raises, it is one line
            problems.append(f"app {origin}: {why_broken(exc)}")
            return
        if not isinstance(app, App):
            problems.append(f"app {origin}: not an llmos App (it is a {type(app).__name__}); "
                            "define `app = App({...manifest...})`")
        elif only and app.name not in only:
            return
        elif app.name in apps:
            problems.append(f"app {origin}: name {app.name!r} is taken")
        else:
            app.source, app.dist = source, dist
            app.version = app.manifest.version or version or "0"
            app.builtin = dist == BUILTIN_DIST  # only llmos's own apps may carry default grants
            apps[app.name] = app

    for ep in entry_points(group="llmos.apps"):
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        add(ep.name, ep.load, source=f"package {dist or '?'} {version or ''}".strip(), dist=dist, version=version)
    folder = home / "apps"
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            add(str(path), lambda path=path: _from_file(path), source=f"file {path}")
    return apps, problems


def why_broken(exc: BaseException) -> str:
    """One line for an app that does not load: its manifest's first problem, or its code's."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "manifest"
        return f"bad manifest: {where}: {err['msg']}"
    first = str(exc).strip().splitlines()
    kind = "bad manifest" if isinstance(exc, ValueError) else f"its code failed ({type(exc).__name__})"
    return f"{kind}: {first[0] if first else type(exc).__name__}"


def install_tools(kernel) -> list[str]:
    """Register every app's tools with the kernel (an app loaded again replaces its own);
    returns one-line problems, an app whose tool is refused among them."""
    apps, problems = discover(kernel.home)
    for app in apps.values():
        try:
            kernel.tools.remove_app(app.name)
            for tool in app.tool_objects():
                kernel.tools.add(tool)
        except SyscallError as err:
            kernel.tools.remove_app(app.name)
            problems.append(f"app {app.name}: its tools are not registered: {err.message}")
    return problems


def find(home: Path, name: str) -> App:
    apps, problems = discover(home)
    if name in apps:
        return apps[name]
    why = next((p for p in problems if name in p), None)
    raise SyscallError(Errno.ENOENT, why or f"no app named {name!r}; installed: {', '.join(sorted(apps)) or 'none'}")
