"""Python scripting: `k.sys.fs.read(path=...)`, stubs generated from the table."""

from __future__ import annotations

import ast
import inspect

import pytest
from llmos.kernel import Kernel
from llmos.kernel.stubs import pyi
from llmos.syscalls.errno import Errno, SyscallError
from llmos.syscalls.table import TABLE


def test_stubs_call_through_the_dispatcher(kernel):
    kernel.sys.fs.write(path="notes.txt", content="from python")
    assert kernel.sys.fs.read(path="notes.txt").content == "from python"
    assert kernel.sys.sys.info().syscalls == len(TABLE)
    assert kernel.journal.tail(1)[0]["name"] == "sys.info"
    with pytest.raises(SyscallError) as info:
        kernel.sys.fs.read(path="../../etc/passwd")
    assert info.value.code == Errno.EACCES


def test_every_syscall_has_a_stub_with_its_signature(kernel):
    for name, spec in TABLE.items():
        family, verb = name.split(".")
        stub = getattr(getattr(kernel.sys, family), verb)
        assert stub.__doc__ == spec.doc
        assert list(inspect.signature(stub).parameters) == list(spec.args.model_fields)


def test_pyi_is_valid_python():
    text = pyi(TABLE)
    ast.parse(text)
    assert "def read(self, *, path: str" in text


def test_boot_without_a_driver_does_not_load_a_model(home):
    with Kernel.boot() as k:
        info = k.sys.sys.info()
        assert info.model == "default" and not info.model_loaded
        assert info.data_dir == str(home.resolve())
        assert k.sys.sys.time().unix > 0
        fams = k.sys.sys.syscalls(family="fs").syscalls
        assert {s.name for s in fams} == {n for n in TABLE if n.startswith("fs.")}
        assert fams[0].args["additionalProperties"] is False
