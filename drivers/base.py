"""The driver protocol: what the kernel needs from an inference backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from .errno import Errno


class DriverError(Exception):
    """A backend failure with an errno-style code (ENOENT, EINVAL, EIO, EINTR, ENOSPC, ...)."""

    def __init__(self, code: Errno | str, message: str):
        self.code = Errno.of(code)
        super().__init__(message)


class SamplingParams(BaseModel):
    """How to sample: the fields a person, a script or an API request sets (defined once here;
    `llm.*`'s arguments and `llmos batch` lines take exactly these)."""

    max_tokens: int = Field(128, ge=1, le=8192, description="most tokens to generate")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="0 = greedy, deterministic")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling: keep this much probability mass")
    top_k: int = Field(40, ge=0, le=1000, description="0 = no top-k cut")
    seed: int | None = Field(None, ge=0, description="fixed seed for repeatable sampling")
    stop: list[str] = Field(default_factory=list, max_length=8, description="strings that end generation")
    ignore_eos: bool = Field(False, description="keep going past the end-of-text token (benchmarks)")


class Sampling(SamplingParams):
    """SamplingParams plus what only the kernel sets."""

    grammar: str | None = None  # GBNF, root rule `root`
    repeat_penalty: float = 1.0  # > 1 discourages repeating the last 64 tokens (1 = off)


@dataclass
class Generation:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str  # "stop" (end of turn or a stop string), "length", "cancelled"


@dataclass
class ModelInfo:
    spec: str
    path: str
    size_bytes: int
    n_ctx: int
    n_ctx_train: int
    n_vocab: int
    chat_format: str
    description: str
    n_params: int = 0


# A check the driver calls between tokens; it raises to stop generation (EINTR, ETIMEDOUT).
Check = Callable[[], None]
OnText = Callable[[str], None]


@runtime_checkable
class Driver(Protocol):
    """An inference backend. Besides tokens and chat formatting it is a step engine
    (drivers/engine.py): `n_seq` slots, sequences opened on a slot and advanced by batched
    steps, and each slot's KV saved and restored; the kernel's scheduler drives it that way."""

    info: ModelInfo
    n_seq: int
    slots: list[list[int]]  # the tokens each slot's KV holds
    lock: Any  # an RLock: one thread at a time on the slots
    decoder: Any  # the DecodeThread its steps run on

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]: ...

    def detokenize(self, tokens: list[int]) -> str: ...

    def n_ctx(self) -> int: ...

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str: ...

    def prompt_tokens(self, prompt: str | list[int]) -> list[int]: ...

    def open_seq(self, prompt: str | list[int], sampling: Sampling, *, slot: int = 0,
                 on_text: OnText | None = None) -> Any: ...

    def attach(self, seq: Any, slot: int) -> None: ...

    def step(self, seqs: list, *, chunk: int | None = None) -> list: ...

    def save_slot(self, slot: int) -> bytes: ...

    def restore_slot(self, slot: int, data: Any, tokens: list[int]) -> None: ...

    def reset_slot(self, slot: int) -> None: ...

    def slot_bytes(self, slot: int) -> int: ...

    def generate(
        self,
        prompt: str | list[int],
        sampling: Sampling,
        *,
        on_text: OnText | None = None,
        check: Check | None = None,
        slot: int = 0,
    ) -> Generation: ...

    def close(self) -> None: ...


class StopScanner:
    """Streams text while holding back anything that could still become a stop string."""

    def __init__(self, stops: list[str], on_text: OnText | None):
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=0)
        self.on_text = on_text
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, piece: str) -> bool:
        """Add text; return True once a stop string has appeared (the text is cut before it)."""
        start = max(0, len(self.text) - self.hold)
        self.text += piece
        for s in self.stops:
            at = self.text.find(s, start)
            if at >= 0:
                self.text = self.text[:at]
                self.stopped = True
                break
        safe = len(self.text) if self.stopped else max(self.emitted, len(self.text) - max(0, self.hold - 1))
        if self.on_text is not None and safe > self.emitted:
            self.on_text(self.text[self.emitted : safe])
        self.emitted = max(self.emitted, safe)
        return self.stopped

    def finish(self) -> str:
        if self.on_text is not None and len(self.text) > self.emitted:
            self.on_text(self.text[self.emitted :])
        self.emitted = len(self.text)
        return self.text
