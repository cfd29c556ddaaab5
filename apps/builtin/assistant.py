"""assistant: the shell's chat as an app, with memory and the tools it is granted.

    llmos app run assistant "what is 17 times 23?"
    llmos app run assistant remember that my sister is called Ada
    llmos app run assistant "what is my sister called?"

Each question is answered with what memory recalls for it in the system prompt (mem.recall) and
the granted tools offered in the format the model was trained on (llm.chat with tools); a tool
call is made through tool.call and its result handed back for the answer. Arithmetic goes to a
granted calculator by rule (the small model does not pick the tool). "remember ..." keeps a
fact (mem.remember).
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


# Arithmetic in words or symbols. The small model neither chooses a tool by itself (asked with
# tool_choice auto on eight questions, it called none) nor writes the expression when made to
# (`}}, ` for "144 divided by 6"), so arithmetic goes to a granted calculator by rule.
OPS = {"times": "*", "multiplied by": "*", "x": "*", "×": "*", "*": "*", "plus": "+", "+": "+",
       "minus": "-", "divided by": "/", "over": "/", "÷": "/", "/": "/",
       "to the power of": "**", "^": "**", "**": "**", "modulo": "%", "mod": "%"}
_OP = "|".join(sorted((re.escape(o) for o in OPS), key=len, reverse=True))
_NUM = r"\d+(?:[.,]\d+)*"
ARITHMETIC = re.compile(rf"{_NUM}(?:\s*(?:{_OP})\s*{_NUM})+", re.I)


def expression(question: str) -> tuple[str, str] | None:
    """(the arithmetic as asked, as a calculator expression), or None."""
    m = ARITHMETIC.search(question)
    if m is None:
        return None
    asked = m.group(0)
    expr = re.sub(_OP, lambda o: f" {OPS[o.group(0).lower()]} ", asked, flags=re.I)
    expr = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expr)  # 1,024 -> 1024
    return asked, " ".join(expr.split())


def calculator(tools: list[dict]) -> str | None:
    for t in tools:
        f = t["function"]
        if "calculat" in f["name"].lower() or "arithmetic" in f["description"].lower():
            return f["name"]
    return None


def calculate(sys, question: str, tools: list[dict]) -> str | None:
    """The answer to arithmetic in the question from a granted calculator, or None."""
    found, tool = expression(question), calculator(tools)
    if found is None or tool is None:
        return None
    asked, expr = found
    try:
        value = sys.tool.call(name=tool, args={"expression": expr}).result
    except SyscallError as err:
        if err.code in (Errno.EINTR, Errno.EDQUOT):
            raise
        return None  # not arithmetic after all: the model answers
    return f"{asked} is {value}."


def answer(sys, question: str) -> str:
    facts = recalled(sys, question)
    system = SYSTEM + ("\nWhat you remember:\n" + "\n".join(f"- {f}" for f in facts) if facts else "")
    tools = granted_tools(sys)
    functions = [Function(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
                 for t in tools]
    worked = calculate(sys, question, tools)
    if worked is not None:
        return worked
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


CAPS = ["llm.chat", "mem.recall", "mem.remember", "tool.list", "tool.call", "sys.time"]

app = App({
    "name": "assistant",
    "description": "Chat: answers with what it remembers and the tools it is granted; \"remember ...\" keeps a fact.",
    "kind": "code",
    "capabilities": CAPS,
    "default_grants": CAPS,  # a built-in: granted what it asks
}, main=main)
