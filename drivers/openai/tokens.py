"""Tokens of a remote engine: its own tokenizer where it offers one, else a clear estimate.

The kernel counts its context window in the driver's tokens and hands prompts to it as
tokens. Engines differ in what they offer:
- llama.cpp's server: POST /tokenize {"content"} and /detokenize {"tokens"} -> {"content"}
- vLLM: POST /tokenize {"prompt"} and /detokenize {"tokens"} -> {"prompt"}
- llama-cpp-python's server: POST /extras/tokenize {"input"}, /extras/detokenize -> {"text"}
The first that answers is used. An engine with none (OpenAI itself, SGLang, Ollama) gets the
estimate: text split into words, punctuation and spaces, each one "token" (about what a BPE
vocabulary makes of English prose), kept in a local table so it round-trips exactly. Counts
are then approximate, which the memory manager tolerates: it pages by a high-water mark.

Since a prompt goes to the engine as text, what each token list was made from is remembered
(the kernel tokenizes a prompt and at once generates from it), so no detokenize round trip
is needed and the engine sees exactly the text the kernel built.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from ..base import DriverError
from ..errno import Errno
from .http import Endpoint, NotOffered

PIECES = re.compile(r"""'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+|\s+(?!\S)|\s+""")
REMEMBER = 256  # token lists whose text is remembered


class Estimate:
    """The fallback: pieces of text as tokens, in a table local to this driver."""

    name = "estimate"

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.pieces: list[str] = []
        self.lock = threading.Lock()

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        out = []
        with self.lock:
            for piece in PIECES.findall(text):
                tok = self.ids.get(piece)
                if tok is None:
                    tok = self.ids[piece] = len(self.pieces)
                    self.pieces.append(piece)
                out.append(tok)
        return out

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(self.pieces[t] for t in tokens if 0 <= t < len(self.pieces))


class Remote:
    """One of the engines' tokenizer endpoints (see the module docstring)."""

    KINDS = {  # name: (tokenize path, detokenize path, request text field, detokenized text field)
        "llama.cpp": ("^/tokenize", "^/detokenize", "content", "content"),
        "vllm": ("^/tokenize", "^/detokenize", "prompt", "prompt"),
        "llama-cpp-python": ("^/extras/tokenize", "^/extras/detokenize", "input", "text"),
    }

    def __init__(self, ep: Endpoint, kind: str, model: str):
        self.ep, self.name, self.model = ep, kind, model
        self.tok_path, self.detok_path, self.field, self.out_field = self.KINDS[kind]

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        body = {self.field: text, "model": self.model}
        if self.name == "llama.cpp":
            body.update(add_special=add_special, parse_special=True)
        elif self.name == "vllm":
            body.update(add_special_tokens=add_special)
        got = self.ep.post(self.tok_path, body).get("tokens")
        if not isinstance(got, list) or not all(isinstance(t, int) for t in got):
            raise DriverError(Errno.EIO, f"the engine's {self.tok_path.lstrip('^')} did not return a token list")
        return got

    def detokenize(self, tokens: list[int]) -> str:
        got = self.ep.post(self.detok_path, {"tokens": tokens, "model": self.model}).get(self.out_field)
        if not isinstance(got, str):
            raise DriverError(Errno.EIO, f"the engine's {self.detok_path.lstrip('^')} did not return text")
        return got


def probe(ep: Endpoint, model: str) -> Remote | Estimate:
    """The engine's own tokenizer if it offers one, else the estimate."""
    for kind in ("llama.cpp", "vllm", "llama-cpp-python"):
        tk = Remote(ep, kind, model)
        try:
            if tk.tokenize("hello world", False) and isinstance(tk.detokenize(tk.tokenize("hi", False)), str):
                return tk
        except (NotOffered, DriverError):
            continue
    return Estimate()


class Tokens:
    """tokenize/detokenize over whichever tokenizer, remembering each list's text."""

    def __init__(self, tokenizer: Remote | Estimate):
        self.tk = tokenizer
        self._texts: OrderedDict[tuple[int, ...], str] = OrderedDict()
        self._counts: OrderedDict[tuple[str, bool], list[int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def exact(self) -> bool:
        return not isinstance(self.tk, Estimate)

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        key = (text, add_special)
        with self._lock:
            got = self._counts.get(key)
        if got is None:
            got = self.tk.tokenize(text, add_special)
        with self._lock:
            self._counts[key] = got
            self._counts.move_to_end(key)
            self._texts[tuple(got)] = text
            self._texts.move_to_end(tuple(got))
            for cache in (self._counts, self._texts):
                while len(cache) > REMEMBER:
                    cache.popitem(last=False)
        return list(got)

    def text_of(self, tokens: list[int]) -> str:
        """The text `tokens` were made from (remembered), else the engine's detokenization."""
        with self._lock:
            got = self._texts.get(tuple(tokens))
        return got if got is not None else self.tk.detokenize(tokens)
