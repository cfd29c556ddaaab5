"""A syscall spec and the decorator that puts one into the table.

The table (`TABLE`) is the single source of truth: JSON Schemas, CLI help and completion,
Python stubs and (later) grammars are all derived from these specs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class Args(BaseModel):
    """Base of every syscall's arguments: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Result(BaseModel):
    """Base of every syscall's result."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Syscall:
    name: str  # family.verb
    doc: str  # one line, for people and for the model
    args: type[Args]
    result: type[Result]
    handler: Callable[[Any, Any], Result]
    capability: str  # the capability name it needs (usually its own name)
    scope: Callable[[Any], str | None] | None = None  # what a scoped capability is matched on
    timeout: float = 30.0  # seconds; handlers check ctx.check() in long loops
    streams: bool = False  # emits text through ctx.stream while it runs
    examples: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split(".", 1)[1]

    def args_schema(self) -> dict:
        return self.args.model_json_schema()

    def result_schema(self) -> dict:
        return self.result.model_json_schema()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "doc": self.doc,
            "capability": self.capability,
            "args": self.args_schema(),
            "result": self.result_schema(),
            "examples": list(self.examples),
        }


TABLE: dict[str, Syscall] = {}


def syscall(
    name: str,
    *,
    args: type[Args],
    result: type[Result],
    capability: str | None = None,
    scope: Callable[[Any], str | None] | None = None,
    timeout: float = 30.0,
    streams: bool = False,
    examples: tuple[dict, ...] = (),
):
    """Register the decorated handler as syscall `name`; its docstring's first line is the doc."""

    def register(handler):
        doc = (handler.__doc__ or "").strip().splitlines()
        if not doc or not doc[0].strip():
            raise ValueError(f"syscall {name} needs a one-line docstring")
        if name in TABLE:
            raise ValueError(f"syscall {name} registered twice")
        TABLE[name] = Syscall(
            name=name,
            doc=doc[0].strip(),
            args=args,
            result=result,
            handler=handler,
            capability=capability or name,
            scope=scope,
            timeout=timeout,
            streams=streams,
            examples=examples,
        )
        return handler

    return register
