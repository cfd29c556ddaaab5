"""The OpenAI-compatible driver: a remote engine (llama.cpp's server, vLLM, SGLang) as a step engine.

`--model openai:http://HOST:PORT/v1[#MODEL]`. The engine owns the KV and batches whatever
requests it has at once, so here a slot is simply room for one request in flight: `n_seq`
is how many the kernel sends at once. A sequence (`RemoteSeq`) is one streaming
`/v1/completions` request run by a worker thread; `step()` collects whatever text has
arrived for each sequence, waiting briefly when none has, so the kernel's scheduler drives
it exactly as it drives llama.cpp in process. Save/restore are no-ops: nothing of a slot
lives here, and a preempted request keeps streaming into its queue until it is resumed.

Process actions stay grammar-valid: the action grammar goes with the request as `grammar`
(llama.cpp's server, llama-cpp-python) and `structured_outputs.grammar` (vLLM); the kernel
parses and validates every action on return anyway (syscalls/grammar.py, the dispatcher).
The chat template is the engine's (llama.cpp's /apply-template) where offered, else ChatML.
"""

from __future__ import annotations

import queue
import threading

from ..base import DriverError, Generation, ModelInfo, OnText, Sampling, StopScanner
from ..engine import decode_thread, generate_alone
from ..errno import Errno
from .http import Endpoint, NotOffered
from .tokens import Tokens, probe

WAIT_S = 0.02  # how long a step waits for text when none has arrived


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`openai:http://host:port/v1#model` -> (base URL, model or None)."""
    rest = spec[len("openai:"):] if spec.startswith("openai:") else spec
    url, _, model = rest.partition("#")
    if not url.startswith(("http://", "https://")):
        raise DriverError(Errno.EINVAL, f"model spec {spec!r}: give the engine's URL, e.g. "
                                        "openai:http://127.0.0.1:8080/v1 (optionally #MODEL)")
    return url.rstrip("/"), model or None


def request_body(model: str, prompt: str, s: Sampling, max_tokens: int) -> dict:
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": s.temperature,
            "top_p": s.top_p, "stream": True, "stream_options": {"include_usage": True}}
    if s.top_k > 0:
        body["top_k"] = s.top_k
    if s.seed is not None:
        body["seed"] = s.seed
    if s.stop:
        body["stop"] = s.stop[:4]  # the OpenAI API takes 4; the rest are cut here
    if s.ignore_eos:
        body["ignore_eos"] = True
    body["repeat_penalty"] = s.repeat_penalty  # llama.cpp's servers default to 1.1, not off
    if s.repeat_penalty != 1.0:
        body["repetition_penalty"] = s.repeat_penalty  # vLLM
    if s.grammar:
        body["grammar"] = s.grammar  # llama.cpp's server, llama-cpp-python
        body["structured_outputs"] = {"grammar": s.grammar}  # vLLM
    return body


class RemoteSeq:
    """One generation: a streaming request in a worker thread, read a step at a time."""

    def __init__(self, tokens: list[int], sampling: Sampling, on_text: OnText | None, max_tokens: int):
        self.history = list(tokens)
        self.n_prompt = len(tokens)
        self.pending: list[int] = []
        self.slot = -1
        self.sampling = sampling
        self.max_tokens = max_tokens
        self.n_out = 0
        self.finish: str | None = None
        self.error: DriverError | None = None
        self.text = ""
        self.scan = StopScanner(sampling.stop, on_text)
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.stop = threading.Event()
        self.worker: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.finish is not None

    def end(self, finish: str) -> None:
        self.text = self.scan.finish()
        self.finish = finish
        self.close()

    def close(self) -> None:
        """Stop the request (a sequence dropped unfinished reads as cancelled)."""
        self.stop.set()

    def result(self) -> Generation:
        return Generation(self.text if self.done else self.scan.text, self.n_prompt, self.n_out,
                          self.finish or "cancelled")

    def take(self, event: tuple) -> None:
        """Apply one event from the worker."""
        kind, value = event
        if self.done:
            return
        if kind == "text":
            self.n_out += 1
            if self.scan.feed(value):
                self.end("stop")
            elif self.n_out >= self.max_tokens:
                self.end("length")
        elif kind == "usage":
            self.n_out = max(self.n_out, int(value))
        elif kind == "done":
            if value == "length":
                self.n_out = max(self.n_out, self.max_tokens)
            self.end("length" if value == "length" else "stop")
        else:
            self.error = value
            self.end("error")


class OpenAIDriver:
    """The driver protocol (drivers/base.py) over an OpenAI-compatible engine."""

    def __init__(self, spec: str, *, api_key: str | None = None, n_seq: int = 4, n_ctx: int = 4096):
        self.base, model = parse_spec(spec)
        self.n_seq = n_seq
        self.n_batch = n_seq
        self.ep = Endpoint(self.base, api_key=api_key, connections=n_seq)
        try:
            listed = self.ep.get("/models").get("data") or []
        except NotOffered:
            listed = []
        except DriverError:
            self.ep.close()
            raise
        ids = [m.get("id") for m in listed if isinstance(m, dict)]
        if model is None:
            if not ids:
                self.ep.close()
                raise DriverError(Errno.EINVAL, f"the engine at {self.base} lists no models; name one: "
                                                f"--model openai:{self.base}#MODEL")
            model = ids[0]
        self.model = model
        self.tokens = Tokens(probe(self.ep, model))
        self._template: bool | None = None  # whether the engine applies chat templates
        entry = next((m for m in listed if isinstance(m, dict) and m.get("id") == model), {})
        served = self._served_ctx(entry)
        self.slots: list[list[int]] = [[] for _ in range(n_seq)]  # nothing of a slot lives here
        self.lock = threading.RLock()
        self.decoder = decode_thread()
        self._arrived = threading.Condition()
        self.info = ModelInfo(
            spec=spec, path=self.base, size_bytes=0, n_ctx=min(n_ctx, served) if served else n_ctx,
            n_ctx_train=served or 0, n_vocab=0, chat_format="chatml",
            description=f"{model} on the OpenAI-compatible engine at {self.base} "
                        f"(tokens: {self.tokens.tk.name})",
        )

    def _served_ctx(self, entry: dict) -> int:
        """The engine's context per request, where it says (vLLM's max_model_len, llama.cpp's /props)."""
        for key in ("max_model_len", "context_length"):
            if isinstance(entry.get(key), int):
                return entry[key]
        meta = entry.get("meta") or {}
        try:
            props = self.ep.get("^/props")
        except (NotOffered, DriverError):
            props = {}
        n = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
        return n if isinstance(n, int) else int(meta.get("n_ctx_train") or 0)

    # -- tokens and chat ---------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        return self.tokens.tokenize(text, add_special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.tokens.text_of(tokens)

    def prompt_tokens(self, prompt: str | list[int]) -> list[int]:
        return self.tokenize(prompt, add_special=True) if isinstance(prompt, str) else list(prompt)

    def n_ctx(self) -> int:
        return self.info.n_ctx

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        if self._template is not False and add_generation_prompt:
            try:
                got = self.ep.post("^/apply-template", {"messages": msgs}).get("prompt")
                if isinstance(got, str):
                    self._template = True
                    self.info.chat_format = "engine"
                    return got
            except (NotOffered, DriverError):
                pass
            self._template = False
        out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    # -- the step engine ---------------------------------------------------------------------

    def open_seq(self, prompt: str | list[int], sampling: Sampling, *, slot: int = 0,
                 on_text: OnText | None = None) -> RemoteSeq:
        tokens = self.prompt_tokens(prompt)
        if not tokens:
            raise DriverError(Errno.EINVAL, "the prompt is empty")
        room = self.info.n_ctx - len(tokens)
        if room <= 0:
            raise DriverError(Errno.EFBIG, f"the prompt is {len(tokens)} tokens; the context holds {self.info.n_ctx}: shorten it")
        text = prompt if isinstance(prompt, str) else self.tokens.text_of(tokens)
        seq = RemoteSeq(tokens, sampling, on_text, min(sampling.max_tokens, room))
        seq.slot = slot
        body = request_body(self.model, text, sampling, seq.max_tokens)
        seq.worker = threading.Thread(target=self._work, args=(seq, body), name="llmos-openai", daemon=True)
        seq.worker.start()
        return seq

    def _work(self, seq: RemoteSeq, body: dict) -> None:
        def put(event):
            seq.events.put(event)
            with self._arrived:
                self._arrived.notify_all()
            self.decoder.wake()

        try:
            finish = None
            for event in self.ep.stream("/completions", body, seq.stop.is_set):
                usage = event.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    put(("usage", usage["completion_tokens"]))
                for choice in event.get("choices") or []:
                    if choice.get("text"):
                        put(("text", choice["text"]))
                    finish = choice.get("finish_reason") or finish
            put(("done", finish or "stop"))
        except DriverError as exc:
            put(("error", exc))
        except Exception as exc:  # a bug or a malformed answer must end the sequence, not hang it
            put(("error", DriverError(Errno.EIO, f"reading the engine's answer failed: {type(exc).__name__}: {exc}")))

    def attach(self, seq: RemoteSeq, slot: int) -> None:
        seq.slot = slot

    def step(self, seqs: list[RemoteSeq], *, chunk: int | None = None) -> list[RemoteSeq]:
        """Take in whatever text has arrived for each of `seqs` (waiting up to WAIT_S when none
        has); returns those that finished."""
        live = [s for s in seqs if not s.done]
        if not live:
            return []
        if all(s.events.empty() for s in live):
            with self._arrived:
                if all(s.events.empty() for s in live):
                    self._arrived.wait(WAIT_S)
        finished = []
        for s in live:
            while not s.done:
                try:
                    s.take(s.events.get_nowait())
                except queue.Empty:
                    break
            if s.done:
                finished.append(s)
        return finished

    def save_slot(self, slot: int) -> bytes:
        return b""

    def restore_slot(self, slot: int, data, tokens: list[int]) -> None:
        pass

    def reset_slot(self, slot: int) -> None:
        pass

    def slot_bytes(self, slot: int) -> int:
        return 0

    def generate(self, prompt: str | list[int], sampling: Sampling, *, on_text: OnText | None = None,
                 check=None, slot: int = 0) -> Generation:
        """One generation on the calling thread (benchmarks, tests); the kernel uses the scheduler."""
        return generate_alone(self, prompt, sampling, on_text=on_text, check=check, slot=slot)

    def close(self) -> None:
        self.ep.close()
