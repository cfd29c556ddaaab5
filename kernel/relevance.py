"""Whether a task is about the functions a process may call: the kernel's hint for tool_choice `auto`.

Left free to start its first action with any character, the default model (SmolLM2-135M)
almost never opens a call: 2 of 64 questions that needed their tool. Made to open the call list
it was trained on and to choose inside it between a call and the empty list (`[]`: "no function
is needed"), it calls nearly always, needed or not: 63 of 64, and 44 of 45 chat questions that
needed none. Its own choice does not tell the two apart, so the kernel decides which of the two
first actions it gets, by how close the task is to a function's name and description
(all-MiniLM-L6-v2 cosine, the embedder recall already uses). Measured on bench/toolcall's 255
questions and bench/chat_suite's 45 questions each paired with one suite tool: at 0.2, 94.5% of
the questions that need their tool pass and 2.2% of the chat questions do.
"""

from __future__ import annotations

THRESHOLD = 0.2


def describe(name: str, description: str) -> str:
    """A function as the embedder reads it: its name in words, then its description."""
    return f"{name.replace('.', ' ').replace('_', ' ')}: {description}"


def closeness(embedder, task: str, functions: list[tuple[str, str]]) -> float:
    """The highest cosine between `task` and a function (name, description); -1 with none."""
    if not functions or not task.strip():
        return -1.0
    vecs = embedder.embed([task, *(describe(n, d) for n, d in functions)])  # unit rows: dot = cosine
    return float((vecs[1:] @ vecs[0]).max())


def relevant(embedder, task: str, functions: list[tuple[str, str]]) -> bool:
    return closeness(embedder, task, functions) >= THRESHOLD
