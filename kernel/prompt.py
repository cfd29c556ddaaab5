"""The system prompt of an LLM-driven process, generated from the syscall table and the tools.

In the words the default model was trained on for function calling (SmolLM2's APIGen-style
prompt: the functions as JSON inside <tools>, calls inside <tool_call>, results inside
<tool_response>), with the functions this process may call and nothing else. No example
answer: a small model copies what it sees. A process is told what it is in one line before.
"""

from __future__ import annotations

import json

from ..syscalls.grammar import RESULT_CLOSE, RESULT_OPEN, Function
from ..syscalls.spec import Syscall

TRAINED = (
    "You are an expert in composing functions. You are given a question and a set of possible functions.\n"
    "Based on the question, you will need to make one or more function/tool calls to achieve the purpose.\n"
    "If none of the functions can be used, point it out and refuse to answer.\n"
    "If the given question lacks the parameters required by the function, also point it out.\n"
    "You have access to the following tools:\n<tools>{tools}</tools>\n"
    "The output MUST strictly adhere to the following format, and NO other text MUST be included.\n"
    "The example format is as follows. Please make sure the parameter type is correct. "
    "If no function call is needed, please make the tool calls an empty list '[]'.\n"
    "<tool_call>[\n"
    '{{"name": "func_name1", "arguments": {{"argument1": "value1", "argument2": "value2"}}}},\n'
    "(more tool calls as required)\n"
    "]</tool_call>"
)
AFTER = {
    "auto": "Each call's result comes back inside <tool_response>. When you can answer, answer in plain text.",
    "required": "Each call's result comes back inside <tool_response>. When you can answer, answer in plain text.",
    "none": "Answer in plain text.",
}


def syscall_function(spec: Syscall) -> Function:
    return Function(spec.name, spec.doc, spec.args_schema())


def system_prompt(functions: list[Function], choice: str = "auto", extra: str = "") -> str:
    tools = json.dumps([f.shown() for f in functions], ensure_ascii=False)
    text = TRAINED.format(tools=tools) + "\n" + AFTER.get(choice, AFTER["required"])
    return text + (f"\n{extra}" if extra else "")


def response(text: str) -> str:
    """A call's result as the model reads it (a user turn)."""
    return RESULT_OPEN + text + RESULT_CLOSE
