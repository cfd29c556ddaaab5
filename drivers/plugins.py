"""Plugins, as in simonw/llm: a few hooks, each handed a `register` callback.

Plugins are modules found through the entry point group `llmos` (pluggy). The built-in
drivers, models and tools are plugins registered exactly that way (pyproject.toml), so the
plugin path is always exercised. The manager lives in the lowest layer so every layer can ask
it; a hook implementation only needs `hookimpl` (or its own HookimplMarker("llmos")).

    from llmos.drivers.plugins import hookimpl

    @hookimpl
    def register_tools(register):
        register(Tool.from_function(my_function))
"""

from __future__ import annotations

import threading

import pluggy

hookspec = pluggy.HookspecMarker("llmos")
hookimpl = pluggy.HookimplMarker("llmos")


class Hooks:
    @hookspec
    def register_drivers(self, register):
        """Register drivers: register(name, matches(spec) -> bool, opener(spec, models, **kw) -> Driver)."""

    @hookspec
    def register_models(self, register):
        """Register bundled model specs: register(ModelSpec)."""

    @hookspec
    def register_tools(self, register):
        """Register tools every kernel offers: register(Tool)."""


_pm: pluggy.PluginManager | None = None
_lock = threading.Lock()


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with every `llmos` entry point loaded (once)."""
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager("llmos")
            pm.add_hookspecs(Hooks)
            pm.load_setuptools_entrypoints("llmos")
            _pm = pm
        return _pm


def collect(hook: str) -> list:
    """Everything the plugins register through `hook`, as a list of the registered arguments
    (one tuple per call, or the single argument itself)."""
    got: list = []

    def register(*args):
        got.append(args[0] if len(args) == 1 else args)

    getattr(plugin_manager().hook, hook)(register=register)
    return got
