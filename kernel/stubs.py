"""Python stubs generated from the table: `kernel.sys.fs.read(path="notes.txt")`.

Each stub carries the spec's doc and a signature built from its Args model, so help() and
editors show the real parameters; calls go through the same dispatcher and journal.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ..syscalls.spec import Syscall


def _signature(spec: Syscall) -> inspect.Signature:
    params = []
    for fname, field in spec.args.model_fields.items():
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        params.append(inspect.Parameter(fname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=field.annotation))
    return inspect.Signature(params, return_annotation=spec.result)


def make_stub(spec: Syscall, call: Callable[[str, dict], object]):
    def stub(**kwargs):
        return call(spec.name, kwargs)

    stub.__name__ = spec.verb
    stub.__qualname__ = spec.name
    stub.__doc__ = spec.doc
    stub.__signature__ = _signature(spec)
    return stub


class Family:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        verbs = sorted(k for k in vars(self) if not k.startswith("_"))
        return f"<syscall family {self._name}: {', '.join(verbs)}>"


class Stubs:
    """Attribute access by family then verb, one stub per syscall in the table."""

    def __init__(self, table: dict[str, Syscall], call: Callable[[str, dict], object]):
        for spec in table.values():
            fam = getattr(self, spec.family, None)
            if fam is None:
                fam = Family(spec.family)
                setattr(self, spec.family, fam)
            setattr(fam, spec.verb, make_stub(spec, call))


def pyi(table: dict[str, Syscall]) -> str:
    """A .pyi text for the stubs, for editors and type checkers."""
    lines = ["# generated from the llmos syscall table; do not edit", "from typing import Any", ""]
    by_family: dict[str, list[Syscall]] = {}
    for s in sorted(table.values(), key=lambda s: s.name):
        by_family.setdefault(s.family, []).append(s)
    for fam, specs in by_family.items():
        lines.append(f"class _{fam}:")
        for s in specs:
            sig = str(_signature(s)).replace("llmos.syscalls.", "")
            lines.append(f"    def {s.verb}(self, {sig[1:]}:" if sig != "()" else f"    def {s.verb}(self):")
            lines.append(f'        """{s.doc}"""')
        lines.append("")
    lines.append("class Stubs:")
    lines += [f"    {fam}: _{fam}" for fam in by_family]
    return "\n".join(lines) + "\n"
