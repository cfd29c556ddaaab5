"""assistant: the shell's chat as an app, with memory and the tools it is granted.

    llmos app run assistant "what is 17 times 23?"
    llmos app run assistant remember that my sister is called Ada
    llmos app run assistant "what is my sister called?"

Each question is answered with what memory recalls for it in the system prompt (mem.recall) and
the granted tools offered in the format the model was trained on (llm.chat with tools); a tool
call is made through tool.call and its result handed back for the answer. Arithmetic goes to a
granted calculator by rule (the small model does not pick the tool). "remember ..." keeps a
fact (mem.remember).

In the shell, plain text is a turn of one assistant process that lasts the session (`turn`): the
conversation is that process's, kept by the memory manager (mem.append, mem.window), so it is
committed as it goes, paged out into a summary when it outgrows the window, and recallable.
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
    """What memory holds about the question: facts kept, core memory, and this conversation's
    turns that were paged out of the window (those still in it the model reads anyway)."""
    try:
        hits = sys.mem.recall(query=question[:1000], k=3, sources=["archival", "core", "conversation"]).hits
    except SyscallError as err:
        if err.code == Errno.EACCES:  # memory not granted: answer without it
            return []
        raise
    return [h.text for h in hits if h.score > 0 and (h.source != "conversation" or h.page is not None)]


def granted_tools(sys, about: str | None = None) -> list[dict]:
    """The tools this process may call (`about`: only those the text is about), in the OpenAI format."""
    try:
        listed = sys.tool.list(**({"about": about} if about is not None else {})).tools
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                   "parameters": t.parameters}} for t in listed]
    except SyscallError as err:
        if err.code == Errno.EACCES:
            return []
        raise


# Arithmetic in words or symbols. The small model neither chooses a tool by itself (asked with
# tool_choice auto on eight questions, it called none) nor writes the expression when made to
# (`}}, ` for "144 divided by 6"), so arithmetic goes to a granted calculator by rule. A bare
# hyphen is a minus only between spaces ("10 - 4", not 2024-11-29 or 555-1234).
OPS = {"times": "*", "multiplied by": "*", "x": "*", "×": "*", "*": "*", "plus": "+", "+": "+",
       "minus": "-", " - ": "-", " − ": "-", "divided by": "/", "over": "/", "÷": "/", "/": "/",
       "to the power of": "**", "^": "**", "**": "**", "modulo": "%", "mod": "%"}
_OP = "|".join(sorted((re.escape(o) for o in OPS), key=len, reverse=True))
_NUM = r"\d+(?:[.,]\d+)*"
ARITHMETIC = re.compile(rf"{_NUM}(?:\s*(?:{_OP})\s*{_NUM})+", re.I)


ASKED = re.compile(r"(?i)\s*(?:what is|what's|calculate|compute|evaluate|how much is)?\s*(?P<e>.+?)\s*[?.!=]*\s*")


def expression(question: str) -> tuple[str, str] | None:
    """(the arithmetic as asked, as a calculator expression), or None."""
    m = ARITHMETIC.search(question)
    if m is None:
        return None
    asked = m.group(0)
    if re.search(r"\s[-−]\s", asked):  # "1939 - 1945", "2 - 3 days": a hyphen is a minus only in a bare sum
        bare = ASKED.fullmatch(question)
        if bare is None or bare.group("e") != asked:
            return None
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


class Conversation:
    """Where a question and what follows it are kept: for one question, a list of messages; in a
    session (the shell's chat), the process's own conversation in the memory manager (mem.append,
    mem.window), paged like any process's."""

    def __init__(self, sys, question: str, *, kept: bool):
        self.sys, self.kept = sys, kept
        self.messages = [{"role": "user", "content": question}]
        if kept:
            sys.mem.append(role="user", content=question)

    def add(self, role: str, content: str, kind: str = "message") -> None:
        if self.kept:
            self.sys.mem.append(role=role, content=content, kind=kind)
        else:
            self.messages.append({"role": role, "content": content})

    def window(self, system: str, answer_tokens: int) -> list[dict]:
        if self.kept:
            got = self.sys.mem.window(system=system, answer_tokens=answer_tokens)
            return [m.model_dump() for m in got.messages]
        return ([{"role": "system", "content": system}] if system else []) + self.messages


def answer(sys, question: str, *, system: str | None = SYSTEM, sampling: dict | None = None,
           kept: bool = False) -> str:
    """The answer to `question`: by the calculator, or by the model with what memory recalls and
    the granted tools. `kept`: the question and everything after it go into the process's
    conversation (a session), and the model sees that conversation."""
    sampling = {"max_tokens": 256, "temperature": 0.0, **(sampling or {})}
    talk = Conversation(sys, question, kept=kept)
    worked = calculate(sys, question, granted_tools(sys))
    if worked is not None:
        talk.add("assistant", worked)
        return worked
    facts = recalled(sys, question)
    head = "\n".join(p for p in (system or "", ("What you remember:\n" + "\n".join(f"- {f}" for f in facts))
                                  if facts else "") if p)
    # Only the tools the question is about are described: a tool block in every prompt made the
    # small model answer plain questions with numbers and tool-result text (bench/chat.py).
    tools = granted_tools(sys, about=question[:4000])
    functions = [Function(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
                 for t in tools]
    offered = system_prompt(functions, "auto", head) if tools else head
    r = sys.llm.chat(messages=talk.window(offered, sampling["max_tokens"]), **sampling, **({"tools": tools} if tools else {}))
    if r.tool_call is None:
        text = r.text.strip()
        talk.add("assistant", text)
        return text
    call = r.tool_call
    try:
        result = json.dumps(sys.tool.call(name=call.name, args=call.arguments).result, ensure_ascii=False)
    except SyscallError as err:
        if err.code in (Errno.EINTR, Errno.EDQUOT):
            raise
        result = f"{err.code}: {err.message}"
    talk.add("assistant", render_call(call.name, call.arguments), "action")
    talk.add("user", response(result[:1500]), "observation")
    text = sys.llm.chat(messages=talk.window(offered, sampling["max_tokens"]), **sampling).text.strip() or result
    talk.add("assistant", text)
    return text


# "remember that ...", "remember: ..." keeps a fact; "remember when ...?" is a question
REMEMBER = re.compile(r"(?is)^(please\s+)?remember( that)?[:,]?\s+(?!(?:when|what|who|where|why|how|if|whether)\b)(.+[^?\s])\s*$")


def reply(sys, text: str, *, system: str | None = SYSTEM, sampling: dict | None = None, kept: bool = False) -> str:
    """"remember ..." keeps a fact; anything else is answered (see answer)."""
    m = REMEMBER.match(text)
    if m is None:
        return answer(sys, text, system=system, sampling=sampling, kept=kept)
    talk = Conversation(sys, text, kept=kept)
    got = sys.mem.remember(text=m.group(3).strip(), tags=[TAG])
    said = f"I will remember that ({got.id})."
    talk.add("assistant", said)
    return said


def turn(sys, text: str, *, system: str | None = None, sampling: dict | None = None) -> str:
    """One turn of a session, its conversation kept in this process's memory (the shell's chat).
    `system`: the system prompt (None: none, the model's own); `sampling`: llm.chat's fields."""
    return reply(sys, text, system=system, sampling=sampling, kept=True)


def main(sys, task: str) -> str:
    question = " ".join(argv(task)).strip()
    if not question:
        raise SyscallError(Errno.EINVAL, "ask something, e.g. llmos app run assistant \"what is 2+2?\"")
    return reply(sys, question)


CAPS = ["llm.chat", "mem.recall", "mem.remember", "mem.append", "mem.window", "tool.list", "tool.call", "sys.time"]

app = App({
    "name": "assistant",
    "description": "Chat: answers with what it remembers and the tools it is granted; \"remember ...\" keeps a fact.",
    "kind": "code",
    "capabilities": CAPS,
    "default_grants": CAPS,  # a built-in: granted what it asks
}, main=main, turn=turn)
