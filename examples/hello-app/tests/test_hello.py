"""The app on its own: run it as an llmos process in a throwaway data directory, with the
grants a person would give it, and without them."""

from llmos.apps.launch import run_code_app
from llmos.kernel import Kernel
from llmos.syscalls.caps import CapSet
from llmos_hello import app, shout


def test_the_tool_shouts():
    assert shout("hello, Ada") == "HELLO, ADA!"


def test_it_greets_and_keeps_the_greeting(tmp_path):
    with Kernel.boot(tmp_path) as k:
        for tool in app.tool_objects():
            k.tools.add(tool)
        p = k.spawn(task="Ada", caps=CapSet.parse(app.manifest.capabilities), app=app.name)
        status, reply = run_code_app(k, app, p)
        assert (status, reply) == (0, "HELLO, ADA! (kept in greeting.txt)")
        assert (tmp_path / "proc" / str(p.pid) / "greeting.txt").read_text() == "Hello, Ada\n"


def test_without_grants_it_can_do_nothing(tmp_path):
    with Kernel.boot(tmp_path) as k:
        p = k.spawn(task="Ada", caps=CapSet([]), app=app.name)
        status, reply = run_code_app(k, app, p)
        assert status == 13 and reply.startswith("EACCES")
