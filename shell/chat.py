"""Chat in the shell: one conversation with the model through `llm.chat`, as the shell (pid 0).

It starts from the model's card (drivers/cards.py): the sampling the model was trained for and
its own default system prompt, or none. `/set` and `/system` change them for the session. An
`assistant` app can take this one's place: the REPL only calls `say`, `reset` and `set`.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from ..drivers.base import SamplingParams
from ..drivers.cards import card
from ..syscalls.errno import Errno, SyscallError

SETTABLE = tuple(n for n in SamplingParams.model_fields if n != "ignore_eos")


class Chat:
    def __init__(self, kernel, *, system: str | None = None, **sampling):
        self.k = kernel
        self.card = card(kernel.model_spec)
        self.system = system  # None: the card's (the model's own default, or none)
        self.overrides: dict = {}
        self.messages: list[dict] = []
        self.last = None  # the last turn's llm.chat result (tokens, finish_reason)
        for key, value in sampling.items():
            self.set(key, value)

    @property
    def sampling(self) -> dict:
        return {**self.card.sampling, **self.overrides}

    def set(self, key: str, value) -> None:
        """Change one sampling field for this session (validated like llm.chat's arguments)."""
        if key not in SETTABLE:
            raise SyscallError(Errno.EINVAL, f"no setting {key!r}; settable: {', '.join(SETTABLE)}")
        try:
            SamplingParams.model_validate({key: value})
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            raise SyscallError(Errno.EINVAL, f"{key}={value!r}: {why}; e.g. /set temperature 0.7") from None
        self.overrides[key] = value

    def set_system(self, text: str | None) -> None:
        """Use `text` as the system prompt ('' for none; None for the model's own)."""
        self.system = text

    def reset(self) -> None:
        self.messages = []

    def window(self) -> list[dict]:
        system = self.card.system if self.system is None else self.system
        return ([{"role": "system", "content": system}] if system else []) + self.messages

    def say(self, text: str, stream: Callable[[str], None] | None = None, *, ctx=None) -> str:
        """One turn: the model's reply (streamed to `stream`), kept in the conversation.

        A reply cut short (Ctrl-C: EINTR) keeps what was said and raises; a conversation that
        outgrew the context drops its oldest turns first. `ctx`: a call context of the caller's
        own (bench/chat.py runs many chats at once, each on nobody's KV)."""
        self.messages.append({"role": "user", "content": text})
        said: list[str] = []

        def emit(piece: str) -> None:
            said.append(piece)
            if stream is not None:
                stream(piece)

        while True:
            try:
                if ctx is not None:
                    ctx.stream = emit
                result = self.k.call("llm.chat", {"messages": self.window(), **self.sampling}, stream=emit, ctx=ctx)
                break
            except SyscallError as err:
                if err.code == Errno.EFBIG and len(self.messages) > 1 and not said:
                    del self.messages[:2]  # drop the oldest exchange and try again
                    continue
                if said:
                    self.messages.append({"role": "assistant", "content": "".join(said)})
                else:
                    self.messages.pop()
                raise
        self.last = result
        self.messages.append({"role": "assistant", "content": result.text})
        return result.text
