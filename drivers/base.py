"""The driver protocol: what the kernel needs from an inference backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class DriverError(Exception):
    """A backend failure with an errno-style code (ENOENT, EINVAL, EIO, EINTR, ETIMEDOUT)."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass
class Sampling:
    max_tokens: int = 128
    temperature: float = 0.7  # 0 means greedy
    top_p: float = 0.95
    top_k: int = 40
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    grammar: str | None = None  # GBNF, root rule `root`
    ignore_eos: bool = False  # benchmarks: generate exactly max_tokens
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
    info: ModelInfo

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]: ...

    def detokenize(self, tokens: list[int]) -> str: ...

    def n_ctx(self) -> int: ...

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str: ...

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
