"""The model's actions and their grammar, in the form the model was trained on.

SmolLM2 (and most small instruct models of its generation) learned function calling from
APIGen-style data: the functions are listed as JSON inside `<tools>...</tools>` in the system
prompt, a call is

    <tool_call>[
    {"name": "fs.read", "arguments": {"path": "notes.txt"}}
    ]</tool_call>

and a result comes back in a user turn inside `<tool_response>...</tool_response>`. An answer
is plain text. So a process's action is either a call (one per action) or a reply (text).

The grammar is built from the JSON Schemas of exactly the functions a process may call (its
granted syscalls and tools) by llama.cpp's own converter (schema.py prepares them), and
enforces the process's tool_choice: `auto` (a call or a reply), `required` (a call), `none`
(a reply), or one named function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from .errno import Errno, SyscallError
from .schema import bounded, to_gbnf

CALL_OPEN = "<tool_call>[\n"
CALL_CLOSE = "\n]</tool_call>"
RESULT_OPEN, RESULT_CLOSE = "<tool_response>\n", "\n</tool_response>"  # a call's result, in a user turn
NO_CALL = "<tool_call>[]</tool_call>\n"  # the trained way to say "no function is needed"; a reply follows
CHOICES = ("auto", "required", "none")


@dataclass(frozen=True)
class Function:
    """What the model may call: a syscall or a tool, by name, with its parameters' schema."""

    name: str
    description: str
    parameters: dict

    def shown(self) -> dict:
        from .schema import compact

        return {"name": self.name, "description": self.description, "parameters": compact(self.parameters)}


@dataclass(frozen=True)
class Action:
    """One action the model took: a call (name, arguments) or a reply (text)."""

    name: str | None = None
    arguments: dict | None = None
    text: str | None = None

    @property
    def is_call(self) -> bool:
        return self.name is not None


def check_choice(choice: str, names: list[str]) -> str:
    """`choice` if it is auto, required, none or one of `names`; EINVAL otherwise."""
    if choice in CHOICES or choice in names:
        return choice
    raise SyscallError(Errno.EINVAL, f"tool choice {choice!r} is not auto, required, none or a function this "
                                     f"process may call ({', '.join(names) or 'none granted'})")


def action_grammar(functions: list[Function], choice: str = "auto", *, decide: bool = False) -> str:
    """The GBNF of one action for `functions` under `choice` (cached per set).

    `decide` (for `auto`): the action opens the call list as the model was trained to, and the
    model decides inside it: a call, or the empty list `[]` followed by its reply. Left free to
    start with any character, SmolLM2 almost never starts a call (2 of 64 questions that needed
    its tool); inside the trained opener it makes the choice it learned."""
    key = tuple((f.name, json.dumps(f.parameters)) for f in functions)  # property order matters
    return _grammar(key, choice, decide)


@lru_cache(maxsize=128)
def _grammar(key: tuple[tuple[str, str], ...], choice: str, decide: bool = False) -> str:
    names = [name for name, _ in key]
    choice = check_choice(choice, names)
    if choice not in ("none",) and not key:
        choice = "none"  # nothing to call: a reply is all there is
    lines: list[str] = []
    if choice != "none":
        defs: dict = {}
        alts = []
        for i, (name, params) in enumerate(key):
            if choice not in CHOICES and name != choice:
                continue
            args = bounded(json.loads(params), prefix=f"f{i}", defs=defs, where=f"{name}.parameters")
            alts.append({"type": "object", "properties": {"name": {"const": name}, "arguments": args},
                         "required": ["name", "arguments"]})
        schema = {"anyOf": alts} if len(alts) > 1 else alts[0]
        if defs:
            schema = {"$defs": defs, **schema}
        body = to_gbnf(schema, prop_order=["name", "arguments"])
        body = body.replace("root ::=", "call-object ::=", 1)
        lines.append(body)
        lines.append(f"call ::= {json.dumps(CALL_OPEN)} call-object {json.dumps(CALL_CLOSE)}")
    # A reply is text that does not start a call (nor with whitespace): the first character
    # is anything but "<" and blanks; the rest is free.
    lines.append(r'reply ::= [^<\x00-\x20] [^\x00]*')
    if choice == "auto" and decide:
        lines.append(f"no-call ::= {json.dumps(NO_CALL)} reply")
    root = {"none": "reply", "auto": "call | no-call" if decide else "call | reply"}.get(choice, "call")
    lines.append(f"root ::= {root}")
    return "\n".join(lines) + "\n"


def render_call(name: str, arguments: dict) -> str:
    """A call as the model writes it (what the journal and transcripts show)."""
    return CALL_OPEN + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + CALL_CLOSE


def parse_action(text: str) -> Action:
    """The action in the model's output; ValueError if a call is not whole (cut off)."""
    stripped = text.strip()
    if not stripped.startswith("<tool_call>"):
        return Action(text=stripped)
    inner = stripped[len("<tool_call>"):]
    end = inner.rfind("</tool_call>")
    if end < 0:
        raise ValueError("the call is not closed with </tool_call>")
    calls = json.loads(inner[:end])
    if calls == []:  # "no function is needed": the reply follows the empty list
        return Action(text=inner[end + len("</tool_call>"):].strip())
    if isinstance(calls, dict):
        calls = [calls]
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict):
        raise ValueError("a call is [{\"name\": NAME, \"arguments\": {...}}]")
    first = calls[0]
    name, args = first.get("name"), first.get("arguments", {})
    if not isinstance(name, str) or not isinstance(args, dict):
        raise ValueError("a call is [{\"name\": NAME, \"arguments\": {...}}]")
    return Action(name=name, arguments=args)
