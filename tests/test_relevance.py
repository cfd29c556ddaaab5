"""tool_choice `auto`: the first action opens the trained call list when the task is about one of
the process's functions (kernel/relevance.py), and starts freely otherwise."""

from __future__ import annotations

import pytest
from llmos.kernel import relevance
from llmos.kernel.prompt import response
from llmos.syscalls.caps import CapSet
from llmos.syscalls.grammar import (
    NO_CALL,
    Action,
    Function,
    action_grammar,
    parse_action,
    render_call,
)
from llmos.syscalls.tool import Tool
from test_memory import HashEmbedder

WEATHER = {"name": "get_weather", "description": "Get the current weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_an_empty_call_list_is_the_trained_way_to_reply():
    assert parse_action(NO_CALL + "Paris is the capital.") == Action(text="Paris is the capital.")
    assert parse_action(render_call("get_weather", {"city": "Oslo"})) == Action("get_weather", {"city": "Oslo"})
    fn = [Function(WEATHER["name"], WEATHER["description"], WEATHER["parameters"])]
    g = action_grammar(fn, "auto", decide=True)
    assert "root ::= call | no-call" in g and "no-call ::=" in g
    assert "root ::= call | reply" in action_grammar(fn, "auto")  # later actions start freely
    assert "no-call" not in action_grammar(fn, "required", decide=True)  # decide changes only auto


def test_closeness_is_the_best_function_and_nothing_without_functions():
    e = HashEmbedder()
    fns = [("get_weather", "Get the current weather for a city"), ("fs.read", "Read a file")]
    assert relevance.closeness(e, "weather in the city of Oslo", fns) > relevance.THRESHOLD
    assert relevance.closeness(e, "zebra quartz", fns) < relevance.THRESHOLD
    assert relevance.closeness(e, "weather", []) == -1.0 and not relevance.relevant(e, "", fns)


@pytest.mark.parametrize("task,decides", [("weather in the city of Oslo please", True), ("zebra quartz", False)])
def test_the_first_auto_action_gets_the_deciding_grammar_only_when_the_task_is_about_a_function(
        kernel, scripted, task, decides):
    kernel.memory._embedder = HashEmbedder()
    kernel.tools.add(Tool.from_schema(WEATHER, lambda args: {"temp": 3}, app="t"))
    scripted.replies.extend([render_call("get_weather", {"city": "Oslo"}), "It is 3 degrees."])
    p = kernel.spawn(task=task, caps=CapSet.parse(["tool.call:get_weather"]), tool_choice="auto", app="t")
    list(kernel.run(p.pid))
    first, second = scripted.samplings[0].grammar, scripted.samplings[1].grammar
    assert ("no-call ::=" in first) is decides
    assert "root ::= call | reply" in second  # after the first action: free again
    assert kernel.procs.get(p.pid).reply == "It is 3 degrees."


def test_a_broken_embedder_leaves_the_first_action_free(kernel, scripted):
    class Broken:
        def embed(self, texts):
            raise OSError("no model files")

    kernel.memory._embedder = Broken()
    kernel.tools.add(Tool.from_schema(WEATHER, lambda args: {"temp": 3}, app="t"))
    scripted.replies.append("I cannot tell.")
    p = kernel.spawn(task="weather in Oslo", caps=CapSet.parse(["tool.call:get_weather"]), tool_choice="auto", app="t")
    list(kernel.run(p.pid))
    assert "root ::= call | reply" in scripted.samplings[0].grammar
    assert kernel.procs.get(p.pid).reply == "I cannot tell."


@pytest.mark.real
def test_minilm_tells_a_weather_question_from_a_capital_one():
    from llmos.kernel.memory.embed import shared

    fns = [(WEATHER["name"], WEATHER["description"])]
    assert relevance.relevant(shared(), "What's the weather like in Tokyo right now?", fns)
    assert not relevance.relevant(shared(), "What is the capital of France?", fns)


@pytest.mark.real
def test_tool_list_about_a_text_lists_only_the_tools_it_is_about(kernel):
    """What the assistant describes to the model: MiniLM (the real embedder) keeps the
    calculator for arithmetic and drops it for a fact question."""
    def listed(about):
        return [t.name for t in kernel.call("tool.list", {"about": about}).tools]

    assert "calculator" in [t.name for t in kernel.call("tool.list", {}).tools]
    assert "calculator" in listed("Evaluate this arithmetic exactly: 17*23")
    assert listed("What is the capital of France?") == []


def test_the_real_model_decides_inside_the_trained_opener(smollm):
    fn = [Function(WEATHER["name"], WEATHER["description"], WEATHER["parameters"])]
    g = action_grammar(fn, "auto", decide=True)
    assert smollm.grammar_accepts(g, render_call("get_weather", {"city": "Oslo"}))
    assert smollm.grammar_accepts(g, NO_CALL + "Paris is the capital of France.")
    assert not smollm.grammar_accepts(g, "Paris is the capital of France.")


TOOLS = [{"type": "function", "function": WEATHER}]


@pytest.mark.parametrize("question,decides", [("weather in the city of Oslo please", True), ("zebra quartz", False)])
def test_llm_chat_with_tools_under_auto_decides_when_the_user_asks_about_a_tool(kernel, scripted, question, decides):
    kernel.memory._embedder = HashEmbedder()
    scripted.replies.append(NO_CALL + "Nothing to call.")
    streamed: list[str] = []
    r = kernel.call("llm.chat", {"messages": [{"role": "user", "content": question}], "tools": TOOLS},
                    stream=streamed.append)
    assert ("no-call ::=" in scripted.samplings[0].grammar) is decides
    assert r.tool_call is None and r.text == "Nothing to call."
    assert "<tool_call>" not in "".join(streamed) and "".join(streamed).strip() == "Nothing to call."


def test_llm_chat_after_a_tool_result_starts_freely(kernel, scripted):
    kernel.memory._embedder = HashEmbedder()
    scripted.replies.append("It is 3 degrees in Oslo.")
    msgs = [{"role": "user", "content": "weather in the city of Oslo please"},
            {"role": "assistant", "content": render_call("get_weather", {"city": "Oslo"})},
            {"role": "user", "content": response('{"temp": 3}')}]
    r = kernel.call("llm.chat", {"messages": msgs, "tools": TOOLS})
    assert "root ::= call | reply" in scripted.samplings[0].grammar and r.text == "It is 3 degrees in Oslo."


def test_the_stream_carries_the_reply_and_nothing_of_a_call():
    from llmos.syscalls.grammar import CALL_OPEN
    from llmos.syscalls.llm import _ReplyOnly

    def streamed(pieces, tools=True):
        out: list[str] = []
        emit = _ReplyOnly(out.append, tools)
        for piece in pieces:
            emit(piece)
        return "".join(out)

    call = render_call("get_weather", {"city": "Oslo"})
    assert call.startswith(CALL_OPEN)
    assert streamed([call[:5], call[5:13], call[13:]]) == ""  # a call is the result's tool_call
    assert streamed(["<tool", "_call>[]</tool_call>\nIt is ", "sunny."]) == "It is sunny."
    assert streamed(["<b>", "bold"]) == "<b>bold"  # diverges from both at once: passed on
    assert streamed(["<tool_call>[\n", "x"], tools=False) == "<tool_call>[\nx"  # no tools: all of it


@pytest.mark.real
def test_llm_chat_on_the_real_model_calls_the_tool_it_is_asked_about_and_answers_the_rest(real_kernel):
    """Through llm.chat (the OpenAI API's path) under auto: a weather question gets a valid call
    of the weather tool, a capital question a reply (greedy, so each outcome is fixed)."""
    from llmos.kernel.prompt import system_prompt

    fn = [Function(WEATHER["name"], WEATHER["description"], WEATHER["parameters"])]

    def ask(q):
        msgs = [{"role": "system", "content": system_prompt(fn, "auto")}, {"role": "user", "content": q}]
        return real_kernel.call("llm.chat", {"messages": msgs, "tools": TOOLS, "temperature": 0, "max_tokens": 64})

    weather = ask("What's the weather like in Tokyo right now?")
    assert weather.tool_call is not None and weather.tool_call.name == "get_weather"
    assert isinstance(weather.tool_call.arguments["city"], str)
    capital = ask("What is the capital of France?")
    assert capital.tool_call is None and "<tool_call>" not in capital.text
