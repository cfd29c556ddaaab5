"""assistant: the shell's chat as an app, with memory and the tools it is granted.

    llmos app run assistant "what is 17 times 23?"
    llmos app run assistant remember that my sister is called Ada
    llmos app run assistant "what is my sister called?"

Each question is answered with what memory recalls for it in the system prompt (mem.recall) and
the granted tools offered in the format the model was trained on (llm.chat with tools); a tool
call is made through tool.call and its result handed back for the answer. "remember ..." keeps
a fact (mem.remember).
"""

from __future__ import annotations

import json
import re

from ...kernel.prompt import response, system_prompt
from ...syscalls.errno import Errno, SyscallError
from ...syscalls.grammar import Function, render_call
from ..sdk import App
from .common import argv

SYSTEM = "You are a helpful assistant. Answer briefly and directly."
TAG = "assistant"


def recalled(sys, question: str) -> list[str]:
    try:
        hits = sys.mem.recall(query=question, k=3, sources=["archival", "core"]).hits
    except SyscallError as err:
        if err.code == Errno.EACCES:  # memory not granted: answer without it
            return []
        raise
    return [h.text for h in hits if h.score > 0]


def granted_tools(sys) -> list[dict]:
    try:
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                   "parameters": t.parameters}} for t in sys.tool.list().tools]
    except SyscallError as err:
        if err.code == Errno.EACCES:
            return []
        raise


def answer(sys, question: str) -> str:
    facts = recalled(sys, question)
    system = SYSTEM + ("\nWhat you remember:\n" + "\n".join(f"- {f}" for f in facts) if facts else "")
    tools = granted_tools(sys)
    functions = [Function(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
                 for t in tools]
    messages = [{"role": "system", "content": system_prompt(functions, "auto", system) if tools else system},
                {"role": "user", "content": question}]
    r = sys.llm.chat(messages=messages, max_tokens=256, temperature=0.0, **({"tools": tools} if tools else {}))
    if r.tool_call is None:
        return r.text.strip()
    call = r.tool_call
    try:
        result = json.dumps(sys.tool.call(name=call.name, args=call.arguments).result, ensure_ascii=False)
    except SyscallError as err:
        if err.code in (Errno.EINTR, Errno.EDQUOT):
            raise
        result = f"{err.code}: {err.message}"
    messages += [{"role": "assistant", "content": render_call(call.name, call.arguments)},
                 {"role": "user", "content": response(result[:1500])}]
    return sys.llm.chat(messages=messages, max_tokens=256, temperature=0.0).text.strip() or result


def main(sys, task: str) -> str:
    question = " ".join(argv(task)).strip()
    if not question:
        raise SyscallError(Errno.EINVAL, "ask something, e.g. llmos app run assistant \"what is 2+2?\"")
    m = re.match(r"(?i)^(please\s+)?remember( that)?[:,]?\s+(.+)", question)
    if m:
        got = sys.mem.remember(text=m.group(3).strip(), tags=[TAG])
        return f"I will remember that ({got.id})."
    return answer(sys, question)


app = App({
    "name": "assistant",
    "description": "Chat: answers with what it remembers and the tools it is granted; \"remember ...\" keeps a fact.",
    "kind": "code",
    "capabilities": ["llm.chat", "mem.recall", "mem.remember", "tool.list", "tool.call", "sys.time"],
    "default_grants": ["llm.chat", "mem.recall", "mem.remember", "tool.list", "tool.call", "sys.time"],
}, main=main)
