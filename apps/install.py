"""Installing and removing app packages with pip, in the environment llmos runs in.

The package is pip-installed (`--no-deps --no-build-isolation --no-index`: nothing is
downloaded), then each of its `llmos.apps` entry points is loaded and its manifest and tools
checked before anything is enabled; a package with a bad one is pip-uninstalled again, so
nothing is left half-installed, and the error is one line.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

from ..syscalls.errno import Errno, SyscallError
from ..syscalls.tool import ToolRegistry
from .registry import BUILTIN_DIST, discover, why_broken
from .sdk import App


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(target: Path) -> str:
    """The distribution a folder (pyproject.toml's project.name) or a wheel (its file name) installs."""
    if target.suffix == ".whl":
        return normalize(target.name.split("-")[0])
    pyproject = target / "pyproject.toml"
    if not pyproject.is_file():
        raise SyscallError(Errno.EINVAL, f"{target} has no pyproject.toml; give an app's project folder or a .whl")
    try:
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise SyscallError(Errno.EINVAL, f"{pyproject}: no [project] name ({type(exc).__name__}); "
                                         "add name = \"...\" under [project]") from None
    return normalize(name)


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def check(home: Path, dist: str) -> list[App]:
    """The apps `dist` brings, each loaded and checked; SyscallError(EINVAL) on the first problem."""
    importlib.invalidate_caches()
    eps = [ep for ep in entry_points(group="llmos.apps") if ep.dist is not None and normalize(ep.dist.name) == dist]
    if not eps:
        raise SyscallError(Errno.EINVAL, f"package {dist} declares no [project.entry-points.\"llmos.apps\"] "
                                         "entry point; add one (NAME = \"module:app\")")
    if dist == normalize(BUILTIN_DIST):
        raise SyscallError(Errno.EINVAL, "that is llmos itself; its built-in apps are already installed")
    others, _ = discover(home)
    found = []
    for ep in eps:
        try:
            app = ep.load()
        except Exception as exc:  # noqa: BLE001 - whatever its import raises is one line
            raise SyscallError(Errno.EINVAL, f"{dist}: app {ep.name} ({ep.value}): {why_broken(exc)}") from None
        if not isinstance(app, App):
            raise SyscallError(Errno.EINVAL, f"{dist}: app {ep.name} ({ep.value}) is a {type(app).__name__}, not an "
                                             "llmos App; define app = App({\"name\": ..., \"description\": ...})")
        owner = others.get(app.name)
        if owner is not None and normalize(owner.dist or "") != dist:
            raise SyscallError(Errno.EEXIST, f"{dist}: the name {app.name!r} is taken by {owner.source or 'another app'}; "
                                             "rename the app in its manifest")
        try:
            tools = ToolRegistry()
            for tool in app.tool_objects():
                tools.add(tool)
        except SyscallError as err:
            raise SyscallError(Errno.EINVAL, f"{dist}: app {app.name}: a tool is refused: {err.message}") from None
        except Exception as exc:  # noqa: BLE001 - a tool that is not one
            raise SyscallError(Errno.EINVAL, f"{dist}: app {app.name}: a tool is refused: {exc}") from None
        app.dist, app.version = ep.dist.name, app.manifest.version or ep.dist.version
        app.source = f"package {ep.dist.name} {ep.dist.version}"
        found.append(app)
    return found


def install(home: Path, target: Path) -> list[App]:
    """pip-install an app package (a project folder or a wheel), then check it; a bad one is
    uninstalled again. The apps it brings."""
    if not target.exists():
        raise SyscallError(Errno.ENOENT, f"no such file or folder: {target}; give an app's project folder or a .whl")
    dist = dist_name(target)
    done = pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(target.resolve()))
    if done.returncode != 0:
        raise SyscallError(Errno.EIO, f"pip could not install {target}: {_last_line(done.stderr or done.stdout)}")
    try:
        return check(home, dist)
    except SyscallError as err:
        pip("uninstall", "-y", "-q", dist)
        importlib.invalidate_caches()
        raise SyscallError(err.code, f"{err.message}; nothing was installed") from None


def uninstall(app: App) -> None:
    """Remove an app: pip-uninstall its package, or delete its loose file. Built-ins stay."""
    if app.builtin:
        raise SyscallError(Errno.EACCES, f"{app.name} is built into llmos and cannot be removed; "
                                         f"`llmos app revoke {app.name}` takes its grants back")
    if app.dist:
        done = pip("uninstall", "-y", "-q", app.dist)
        if done.returncode != 0:
            raise SyscallError(Errno.EIO, f"pip could not uninstall {app.dist}: {_last_line(done.stderr)}")
        importlib.invalidate_caches()
        return
    path = Path(app.source.removeprefix("file "))
    if not path.is_file():
        raise SyscallError(Errno.ENOENT, f"cannot find {app.name}'s file ({app.source})")
    path.unlink()
