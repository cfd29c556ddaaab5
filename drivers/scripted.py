"""A deterministic driver with queued replies, for unit tests (like simonw/llm's MockModel).

Tokens are UTF-8 bytes, so tokenize/detokenize round-trip exactly and counts are predictable.
Each generated "token" is one whitespace-delimited word of the queued reply.
"""

from __future__ import annotations

import re
from collections import deque

from .base import Check, DriverError, Generation, ModelInfo, OnText, Sampling, StopScanner


class ScriptedDriver:
    def __init__(self, replies: list[str] | None = None, n_ctx: int = 65536, default: str | None = None):
        self.replies: deque[str] = deque(replies or [])
        self.default = default
        self.prompts: list[str] = []  # every prompt it was given, for assertions
        self.samplings: list[Sampling] = []
        self._n_ctx = n_ctx
        self.info = ModelInfo(
            spec="scripted",
            path="(scripted)",
            size_bytes=0,
            n_ctx=n_ctx,
            n_ctx_train=n_ctx,
            n_vocab=256,
            chat_format="chatml",
            description="scripted test driver",
        )

    def queue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        return list(text.encode("utf-8"))

    def detokenize(self, tokens: list[int]) -> str:
        return bytes(tokens).decode("utf-8", errors="replace")

    def n_ctx(self) -> int:
        return self._n_ctx

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def generate(
        self,
        prompt: str | list[int],
        sampling: Sampling,
        *,
        on_text: OnText | None = None,
        check: Check | None = None,
        slot: int = 0,
    ) -> Generation:
        text = prompt if isinstance(prompt, str) else self.detokenize(prompt)
        self.prompts.append(text)
        self.samplings.append(sampling)
        if self.replies:
            reply = self.replies.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise DriverError("EIO", "scripted driver has no reply queued")
        words = re.findall(r"\S+\s*|\s+", reply)
        scan = StopScanner(sampling.stop, on_text)
        n = 0
        finish = "stop"
        for w in words:
            if check is not None:
                check()
            if n >= sampling.max_tokens:
                finish = "length"
                break
            n += 1
            if scan.feed(w):
                break
        return Generation(scan.finish(), len(self.tokenize(text)), n, finish)

    def close(self) -> None:
        pass
