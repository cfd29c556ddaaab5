"""The system prompt of an LLM-driven process, generated from the syscall table.

Short on purpose: a 135M model follows a compact list of calls and a worked example better
than prose, and copies concrete values it sees (so the call list shows placeholders, not
file names). Only the calls this process may make appear, and only examples that use them.
"""

from __future__ import annotations

import json

from ..syscalls.grammar import PSEUDO
from ..syscalls.spec import Syscall

HEAD = (
    "You are an llmos process. You act only through calls. Each turn, write exactly one JSON "
    'action: {"call": NAME, "args": {...}}. You may call:\n'
)
TAIL = (
    "Each action gets an Observation with its result or an error. If a call fails, read the "
    "error and change what you do. As soon as you can answer the task, reply."
)

# Worked examples in the system prompt: (calls they need, transcript). The model copies what it
# sees, reply text included. Measured on 12 suite tasks: shown as chat turns instead, no better
# (3/12 both) and more invented answers; with no examples at all, 2/12.
EXAMPLES = [
    (
        {"fs.list"},
        [
            "Task: which files do I have?",
            {"call": "fs.list", "args": {"path": "."}},
            'Observation: {"path": ".", "entries": [{"name": "plan.md", "type": "file", "size": 120}], "truncated": false}',
            {"call": "reply", "args": {"text": "You have one file: plan.md."}},
        ],
    ),
    (
        {"tool.call"},
        [
            "Task: what is 12 plus 30?",
            {"call": "tool.call", "args": {"name": "calculator", "args": {"expression": "12+30"}}},
            'Observation: {"name": "calculator", "result": 42}',
            {"call": "reply", "args": {"text": "12 plus 30 is 42."}},
        ],
    ),
]


def _placeholder(name: str) -> str:
    return name.upper()


def signature(spec: Syscall) -> str:
    """`fs.read {"path": PATH}`: the call with its required arguments as placeholders."""
    if spec.name == "tool.call":
        return 'tool.call {"name": TOOL, "args": {...}}'
    req = [k for k, f in spec.args.model_fields.items() if f.is_required() or k == "path"]
    inner = ", ".join(f'"{k}": {_placeholder(k)}' for k in req)
    return f"{spec.name} {{{inner}}}"


def system_prompt(specs: list[Syscall], tools: list[tuple[str, str]] = (), extra: str = "") -> str:
    lines = [f"- {signature(s)} : {s.doc}" for s in specs]
    lines.append('- reply {"text": TEXT} : ' + PSEUDO["reply"][0])
    lines.append('- exit {"status": NUMBER, "reason": TEXT} : ' + PSEUDO["exit"][0])
    if tools:
        lines.append("Tools for tool.call: " + "; ".join(f"{name} ({doc})" for name, doc in tools))
    names = {s.name for s in specs}
    shown = [t for need, t in EXAMPLES if need <= names][:2]
    example = ""
    for transcript in shown:
        example += "\nExample:\n" + "\n".join(x if isinstance(x, str) else json.dumps(x) for x in transcript)
    return HEAD + "\n".join(lines) + "\n" + TAIL + example + (f"\n{extra}" if extra else "")
