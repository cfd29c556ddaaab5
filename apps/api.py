"""The OpenAI-compatible API's requests as llmos processes (`llmos serve` serves them over HTTP).

Each request runs as a process of the app its API key maps to (no key: the built-in `api`
app, loopback clients only), with that app's grants: a chat is that process's `llm.chat`
syscall, a completion its `llm.complete`, so each is capability-checked, journaled under its
pid and batched with everything else by the scheduler. The request's `tools` become the
system prompt in the format the model was trained on (kernel/prompt.py) and the grammar of the
answer (`llm.chat` with tools), so a tool call is always well formed and matches its schema;
earlier calls and their results in the conversation are written back in that same format.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from ..kernel.process import ExitStatus, ProcState
from ..kernel.prompt import response, system_prompt
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.grammar import Function, render_call
from .launch import capabilities
from .registry import find

API_APP = "api"
DEFAULT_MAX_TOKENS = 512


def _text(content) -> str:
    """A message's content: a string, or OpenAI's list of parts (their text joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise SyscallError(Errno.EINVAL, "a message's content is a string or a list of text parts")


def _choice(tool_choice) -> str:
    """OpenAI's tool_choice (a word, or {"type": "function", "function": {"name"}}) as llmos's word."""
    if tool_choice is None:
        return "auto"
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise SyscallError(Errno.EINVAL, 'tool_choice is auto, required, none or {"type": "function", '
                                             '"function": {"name": NAME}}')
        return name
    return str(tool_choice)


def sampling(body: dict, default_max: int) -> dict:
    """The request's sampling fields as llm.* arguments (what llmos does not know is ignored)."""
    if body.get("n", 1) != 1:
        raise SyscallError(Errno.EINVAL, "n must be 1: llmos answers one choice per request")
    out = {"max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or default_max}
    for key in ("temperature", "top_p", "top_k", "seed", "ignore_eos"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return out


def chat_messages(messages: list, functions: list[Function], choice: str) -> list[dict]:
    """OpenAI messages as llm.chat's: tools in the trained system prompt, calls and results in
    the trained format."""
    if not isinstance(messages, list) or not messages:
        raise SyscallError(Errno.EINVAL, "messages must be a non-empty list")
    system, out = [], []
    for m in messages:
        if not isinstance(m, dict):
            raise SyscallError(Errno.EINVAL, "each message is an object with a role")
        role, text = m.get("role"), _text(m.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        elif role == "user":
            out.append({"role": "user", "content": text})
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            for c in calls:
                f = c.get("function") or {}
                try:
                    args = json.loads(f.get("arguments") or "{}")
                except ValueError:
                    raise SyscallError(Errno.EINVAL, "an assistant tool call's arguments are not JSON") from None
                out.append({"role": "assistant", "content": render_call(f.get("name", ""), args)})
            if text or not calls:
                out.append({"role": "assistant", "content": text})
        elif role in ("tool", "function"):
            out.append({"role": "user", "content": response(text)})
        else:
            raise SyscallError(Errno.EINVAL, f"unknown message role {role!r}")
    extra = "\n".join(s for s in system if s)
    if functions:
        out.insert(0, {"role": "system", "content": system_prompt(functions, choice, extra)})
    elif extra:
        out.insert(0, {"role": "system", "content": extra})
    return out


class API:
    """Requests in, OpenAI-shaped answers out; each request one process of the key's app."""

    def __init__(self, kernel, keys: dict[str, str] | None = None):
        self.k = kernel
        self.keys = dict(keys or {})
        for app in set(self.keys.values()) | {API_APP}:
            find(kernel.home, app)  # an unknown app is ENOENT now, not at the first request

    def app_for(self, key: str | None, loopback: bool) -> str:
        """The app a request runs as: its key's, or `api` for a loopback client when no keys are set."""
        if self.keys:
            if key in self.keys:
                return self.keys[key]
            raise SyscallError(Errno.EACCES, "missing or unknown API key; send Authorization: Bearer KEY")
        if not loopback:
            raise SyscallError(Errno.EACCES, "this server has no API keys and answers loopback clients only; "
                                             "start it with --api-key KEY=APP")
        return API_APP

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.k.model_spec, "object": "model", "created": 0,
                                            "owned_by": "llmos"}]}

    def _as_process(self, app_name: str, task: str, name: str, args: dict, stream: Callable | None):
        """Run one syscall as a new process of `app_name`; the process ends with its outcome."""
        k = self.k
        app = find(k.home, app_name)
        proc = k.spawn(task=task[:500] or name, caps=capabilities(k, app), app=app.name, max_steps=1)
        k.procs.set_state(proc.pid, ProcState.RUNNING)
        ctx = k.context(pid=proc.pid, caps=proc.capset, workspace=proc.workspace, stream=stream)
        try:
            result = k.dispatcher.dispatch(ctx, name, args)
        except SyscallError as err:
            k.procs.finish(proc.pid, ProcState.EXITED, err.code.exit_code, f"{err.code}: {err.message}")
            raise
        finally:
            k.router.forget(proc.pid)
        reply = render_call(result.tool_call.name, result.tool_call.arguments) if result.tool_call else result.text
        k.procs.finish(proc.pid, ProcState.EXITED, ExitStatus.OK, "answered", reply=reply)
        return proc.pid, result

    def chat(self, app: str, body: dict, stream: Callable[[str], None] | None = None) -> dict:
        tools = body.get("tools") or []
        choice = _choice(body.get("tool_choice"))
        fns = [t.get("function") or {} for t in tools if isinstance(t, dict)]
        functions = [Function(f.get("name", ""), f.get("description", ""),
                              f.get("parameters") or {"type": "object", "properties": {}}) for f in fns]
        if choice == "none":
            functions, tools = [], []
        messages = chat_messages(body.get("messages"), functions, choice)
        args = {"messages": messages, **sampling(body, DEFAULT_MAX_TOKENS)}
        if tools:
            args.update(tools=tools, tool_choice=choice)
        task = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        pid, r = self._as_process(app, task, "llm.chat", args, None if tools else stream)
        message: dict = {"role": "assistant", "content": r.text if r.tool_call is None else None}
        finish = r.finish_reason if r.finish_reason != "cancelled" else "stop"
        if r.tool_call is not None:
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": {
                "name": r.tool_call.name, "arguments": json.dumps(r.tool_call.arguments, ensure_ascii=False)}}]
            finish = "tool_calls"
        return self._envelope("chat.completion", pid, r, {"index": 0, "message": message, "finish_reason": finish})

    def complete(self, app: str, body: dict, stream: Callable[[str], None] | None = None) -> dict:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise SyscallError(Errno.EINVAL, "prompt must be one string")
        pid, r = self._as_process(app, prompt, "llm.complete", {"prompt": prompt, **sampling(body, 16)}, stream)
        finish = r.finish_reason if r.finish_reason != "cancelled" else "stop"
        return self._envelope("text_completion", pid, r, {"index": 0, "text": r.text, "finish_reason": finish,
                                                          "logprobs": None})

    def _envelope(self, kind: str, pid: int, r, choice: dict) -> dict:
        return {"id": f"llmos-{pid}", "object": kind, "created": int(time.time()), "model": self.k.model_spec,
                "choices": [choice], "system_fingerprint": f"llmos-pid-{pid}",
                "usage": {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                          "total_tokens": r.prompt_tokens + r.completion_tokens}}
