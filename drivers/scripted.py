"""A deterministic driver with queued replies, for unit tests (like simonw/llm's MockModel).

It is a full step engine (drivers/engine.py), so unit tests run the same scheduled path as
the real model: slots, prefix reuse, batched steps, swaps. Prompt tokens are UTF-8 bytes, so
tokenize/detokenize round-trip exactly and counts are predictable; each generated token is
one whitespace-delimited word of the queued reply (a word-token id >= 256).
"""

from __future__ import annotations

import re
from array import array
from collections import deque

from .base import DriverError, ModelInfo, Sampling
from .engine import SlotEngine
from .errno import Errno

EOG = 1 << 30  # the end-of-generation token


class _Reply:
    """The 'sampler' of one scripted sequence: hands out its reply a word at a time."""

    def __init__(self, driver: ScriptedDriver, words: list[str]):
        self.d = driver
        self.words = deque(words)

    def sample(self, row: int) -> int:
        if not self.words:
            return EOG
        return self.d.word_id(self.words.popleft())

    def free(self) -> None:
        self.words.clear()


class ScriptedDriver(SlotEngine):
    def __init__(self, replies: list[str] | None = None, n_ctx: int = 65536, default: str | None = None,
                 n_seq: int = 4):
        self.replies: deque[str] = deque(replies or [])
        self.default = default
        self.prompts: list[str] = []  # every prompt it was given, for assertions
        self.samplings: list[Sampling] = []
        self.decodes = 0  # decode steps run (one per batched step)
        self.n_seq = n_seq
        self.n_batch = 512
        self._words: dict[str, int] = {}
        self._pieces: dict[int, bytes] = {}
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
        self._init_slots()

    def queue(self, *replies: str) -> None:
        self.replies.extend(replies)

    # -- tokens ---------------------------------------------------------------------------

    def word_id(self, word: str) -> int:
        got = self._words.get(word)
        if got is None:
            got = self._words[word] = 256 + len(self._words)
            self._pieces[got] = word.encode("utf-8")
        return got

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        return list(text.encode("utf-8"))

    def piece(self, token: int) -> bytes:
        return bytes([token]) if token < 256 else self._pieces.get(token, b"")

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def prompt_tokens(self, prompt: str | list[int]) -> list[int]:
        return self.tokenize(prompt) if isinstance(prompt, str) else list(prompt)

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    # -- the engine's parts ---------------------------------------------------------------

    def _sampler(self, sampling: Sampling, prompt: list[int]) -> _Reply:
        if self.replies:
            reply = self.replies.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise DriverError(Errno.EIO, "scripted driver has no reply queued")
        self.prompts.append(self.detokenize(prompt))
        self.samplings.append(sampling)
        return _Reply(self, re.findall(r"\S+\s*|\s+", reply))

    def _decode(self, plan) -> list[int]:
        self.decodes += 1
        return list(range(len(plan)))

    def _kv_keep(self, slot: int, n: int) -> None:
        pass  # the slot's token list is all the KV there is

    def save_slot(self, slot: int) -> bytes:
        with self.lock:
            return array("q", self.slots[slot]).tobytes()

    def restore_slot(self, slot: int, data, tokens: list[int]) -> None:
        with self.lock:
            if not self._clear_for_restore(slot, tokens):
                return
            held = array("q")
            held.frombytes(bytes(data))
            if list(held) != list(tokens):
                raise DriverError(Errno.EIO, f"slot {slot}'s saved KV does not hold the tokens it claims")
            self.slots[slot] = list(tokens)

    def slot_bytes(self, slot: int) -> int:
        return 8 * len(self.slots[slot])

    def close(self) -> None:
        pass
