"""A process's trace as one chat-format training example: exactly the messages its model saw.

The system prompt is rebuilt as the loop builds it (kernel/prompt.py from the process's granted
functions and tool_choice), then the task, each action the model wrote and each result it read,
from the process's memory. `{"messages": [{"role", "content"}...], "meta": {...}}`, one a line.
"""

from __future__ import annotations

import re

from ..loop import model_functions
from ..prompt import system_prompt

# What looks like a secret: provider keys, bearer tokens, key=value credentials, private keys.
_SECRETS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"),  # OpenAI/Anthropic/Stripe-style keys
    re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # JWT
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
]
_ASSIGNED = re.compile(r"""(?ix)
    \b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)
    (\s*["']?\s*[:=]\s*["']?)      # password = "...", "api_key": "...", token: ...
    ([^\s"',;}{]{4,})""")
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by [REDACTED]."""
    for pat in _SECRETS:
        text = pat.sub(REDACTED, text)
    return _ASSIGNED.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def process_messages(kernel, proc) -> list[dict]:
    """The chat the process's model saw: system prompt, task, actions and results."""
    system = system_prompt(model_functions(kernel, proc), proc.tool_choice or "auto")
    msgs = [{"role": "system", "content": system}]
    for m in kernel.memory.messages(proc.pid):
        if m["role"] in ("user", "assistant"):
            msgs.append({"role": m["role"], "content": m["content"]})
    return msgs


def example(kernel, proc, *, source: str, redact_secrets: bool = True) -> dict:
    msgs = process_messages(kernel, proc)
    if redact_secrets:
        msgs = [{"role": m["role"], "content": redact(m["content"])} for m in msgs]
    return {"messages": msgs, "meta": {"source": source, "pid": proc.pid, "task": redact(proc.task),
                                       "tool_choice": proc.tool_choice or "auto"}}
