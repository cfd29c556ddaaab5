"""Chat in the shell: plain text is a turn of the `assistant` app, run as one process for the session.

The process holds the conversation the way every process does, in the memory manager: each
message committed as it is said, old turns paged out into a summary when the window fills, all of
it searchable with mem.recall. It answers with what memory recalls and the tools it is granted;
its tool calls are shown as they happen (`on_call`).

It starts from the model's card (drivers/cards.py): the sampling the model was trained for and
its own default system prompt, or none. `/set` and `/system` change them for the session; /reset
ends the process and the next line starts a new one. The REPL only calls `say`, `reset`, `set`,
`set_system` and `close`.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from ..apps.launch import OnCall, Session
from ..drivers.base import SamplingParams
from ..drivers.cards import card
from ..syscalls.errno import Errno, SyscallError

SETTABLE = tuple(n for n in SamplingParams.model_fields if n != "ignore_eos")
APP = "assistant"


class Chat:
    def __init__(self, kernel, *, system: str | None = None, app: str = APP, on_call: OnCall | None = None,
                 **sampling):
        self.k = kernel
        self.card = card(kernel.model_spec)
        self.app = app
        self.system = system  # None: the card's (the model's own default, or none)
        self.overrides: dict = {}
        self.session: Session | None = None  # started by the first line
        self.latest: int | None = None  # the latest session's pid (its messages outlive it)
        self.last = None  # the last llm.chat result of a turn (tokens, finish_reason)
        self._on_call = on_call
        for key, value in sampling.items():
            self.set(key, value)

    @property
    def sampling(self) -> dict:
        return {**self.card.sampling, **self.overrides}

    @property
    def system_prompt(self) -> str | None:
        """The system prompt the next turn gets (None: none, the model's own default)."""
        return (self.card.system if self.system is None else self.system) or None

    @property
    def pid(self) -> int | None:
        return self.session.pid if self.session is not None else None

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
        """A new conversation: this one's process ends (its messages stay in memory)."""
        self.close()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    @property
    def messages(self) -> list[dict]:
        """The latest conversation as the memory manager holds it (every message, paged out or not)."""
        if self.latest is None:
            return []
        return [{"role": m["role"], "content": m["content"]} for m in self.k.memory.messages(self.latest)]

    def _seen(self, name: str, args: dict, result) -> None:
        if name == "llm.chat" and not isinstance(result, SyscallError):
            self.last = result
        if self._on_call is not None:
            self._on_call(name, args, result)

    def say(self, text: str, stream: Callable[[str], None] | None = None, *, cancel=None) -> str:
        """One turn: the assistant's reply (streamed to `stream`), kept in the conversation.

        `cancel` set (Ctrl-C) ends the turn with EINTR; what was said so far is kept. A process
        that ended (`/kill`, a spent budget) is replaced by a new one, which says so."""
        note, self.last = "", None
        if self.session is not None and not self.session.alive:
            note = f"(the conversation's process {self.session.pid} had ended; a new one starts)\n"
            self.close()  # its budget saved, its KV let go
        if self.session is None:
            self.session = Session(self.k, self.app, on_call=self._seen)
            self.latest = self.session.pid
        if note and stream is not None:
            stream(note)
        options = {"system": self.system_prompt, "sampling": self.sampling}
        return self.session.turn(text, stream=stream, cancel=cancel, **options)
