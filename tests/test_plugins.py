"""Plugins (pluggy, entry point group `llmos`): the built-ins come through them, and a third
party's hook implementations are called the same way. Plus `llmos top` across OS processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from llmos.drivers import plugins
from llmos.drivers.base import DriverError, Sampling
from llmos.drivers.loader import drivers, open_driver
from llmos.drivers.models import ModelStore
from llmos.drivers.scripted import ScriptedDriver
from llmos.kernel import Kernel


def test_the_builtins_are_registered_as_plugins():
    names = {p.__name__ for p in plugins.plugin_manager().get_plugins()}
    assert {"llmos.drivers.builtin", "llmos.syscalls.builtin_tools"} <= names
    assert [name for name, _, _ in drivers()] == ["llama.cpp", "openai", "transformers"]
    with Kernel.boot(driver=ScriptedDriver()) as k:
        assert k.tools.get("calculator").app == "builtin"


def test_a_third_party_driver_plugin_takes_its_scheme(tmp_path):
    class Plugin:
        @plugins.hookimpl
        def register_drivers(self, register):
            register("echo", lambda spec: spec.startswith("echo:"),
                     lambda spec, models, **kw: ScriptedDriver(default=spec[5:], n_seq=kw["n_seq"]))

    pm = plugins.plugin_manager()
    plugin = Plugin()
    pm.register(plugin)
    try:
        d = open_driver("echo:hello", ModelStore(tmp_path), n_seq=3)
        assert d.n_seq == 3 and d.generate("x", Sampling()).text == "hello"
        with pytest.raises(DriverError, match="no driver takes"):
            open_driver("nosuch:thing", ModelStore(tmp_path))
    finally:
        pm.unregister(plugin)


def test_top_reads_another_kernels_scheduler(home, capsys):
    """A kernel in another OS process generates; `llmos top --once` here shows its scheduler."""
    script = textwrap.dedent("""
        import sys
        from llmos.drivers.base import Sampling
        from llmos.drivers.scripted import ScriptedDriver
        from llmos.kernel import Kernel
        k = Kernel.boot(driver=ScriptedDriver(default="one two three"))
        k.generate(0, "hello", Sampling(max_tokens=3))
        k.scheduler.stats.publish(k.scheduler, force=True)
        print("ready", flush=True)
        sys.stdin.readline()  # stay alive until the test has looked
        k.close()
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, LLMOS_HOME=str(home)))
    try:
        assert p.stdout.readline().strip() == "ready"
        from llmos.shell.cli import main

        assert main(["top", "--once"]) == 0
        out = capsys.readouterr().out
        assert f"host pid {p.pid}" in out and "model scripted" in out
    finally:
        p.communicate("\n", timeout=30)
    assert p.returncode == 0
