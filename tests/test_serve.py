"""`llmos serve` driven by the official `openai` client: on the scripted driver (in process, exact)
and on the default model (a real server process: chat, streaming, a nested tool call, 16 clients)."""

from __future__ import annotations

import json
import sys
import threading

import pytest
from llmos.kernel import Kernel
from llmos.shell.cmd_serve import build_app, parse_keys
from llmos.syscalls.errno import SyscallError
from servers import free_port, running

BOOK = {"type": "function", "function": {"name": "book_room", "description": "Book a hotel room.",
        "parameters": {"type": "object", "required": ["hotel", "stay"], "properties": {
            "hotel": {"type": "string"},
            "stay": {"type": "object", "required": ["nights", "guests"], "properties": {
                "nights": {"type": "integer"}, "guests": {"type": "integer"}}}}}}}


def client_for(app, key="none"):
    """The openai client on the app in process (FastAPI's TestClient is an httpx.Client)."""
    import openai
    from fastapi.testclient import TestClient

    tc = TestClient(app, client=("127.0.0.1", 50000))
    return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=tc), tc


@pytest.fixture
def served(home, scripted):
    k = Kernel.boot(driver=scripted)
    yield k, scripted
    k.close()


def test_chat_completion_and_tool_calls_on_the_scripted_driver(served):
    k, d = served
    client, _ = client_for(build_app(k, {}))
    d.queue("Hello there.")
    r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello there." and r.choices[0].finish_reason == "stop"
    d.queue('<tool_call>[\n{"name": "book_room", "arguments": {"hotel": "Ritz", "stay": {"nights": 2, "guests": 3}}}\n]</tool_call>')
    r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Book the Ritz"}],
                                       tools=[BOOK], tool_choice="required")
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "book_room"
    assert json.loads(call.function.arguments) == {"hotel": "Ritz", "stay": {"nights": 2, "guests": 3}}
    # the tools were in the trained system prompt, and the answer was decoded under their grammar
    assert "<tools>" in d.prompts[-1] and "book_room" in d.prompts[-1]
    assert 'book_room' in d.samplings[-1].grammar and "root ::= call\n" in d.samplings[-1].grammar
    # the call and its result come back in the trained format
    d.queue("Booked.")
    r = client.chat.completions.create(model="default", messages=[
        {"role": "user", "content": "Book the Ritz"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"ok": true}'}], tools=[BOOK])
    assert r.choices[0].message.content == "Booked."
    assert '<tool_call>[\n{"name": "book_room"' in d.prompts[-1] and '<tool_response>\n{"ok": true}' in d.prompts[-1]
    # each request was a process of the app `api`, its syscall journaled under its pid
    rows = k.journal.tail(3)
    assert [r["name"] for r in rows] == ["llm.chat"] * 3 and len({r["pid"] for r in rows}) == 3
    assert all(k.procs.get(r["pid"]).app == "api" and k.procs.get(r["pid"]).state == "exited" for r in rows)


def test_streaming_completions_and_named_tool_choice(served):
    k, d = served
    client, _ = client_for(build_app(k, {}))
    d.queue("one two three")
    chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "count"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert chunks[-1].choices[0].finish_reason == "stop"
    d.queue(" Paris")
    r = client.completions.create(model="m", prompt="The capital of France is", max_tokens=4)
    assert r.choices[0].text == " Paris" and k.journal.tail(1)[0]["name"] == "llm.complete"
    d.queue('<tool_call>[\n{"name": "book_room", "arguments": {"hotel": "X", "stay": {"nights": 1, "guests": 1}}}\n]</tool_call>')
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], tools=[BOOK],
                                   tool_choice={"type": "function", "function": {"name": "book_room"}})
    assert "root ::= call\n" in d.samplings[-1].grammar


def test_mistakes_are_errno_answers(served):
    import openai

    k, d = served
    client, _ = client_for(build_app(k, {}))
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], tools=[BOOK],
                                       tool_choice={"type": "function", "function": {"name": "nope"}})
    assert "EINVAL" in str(e.value) and "nope" in str(e.value)
    bad = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object",
           "properties": {"x": {"not": {"type": "string"}}}}}}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], tools=[bad])
    assert "EINVAL" in str(e.value) and "not" in str(e.value)
    # keys: a request runs as its key's app; without the right key it is refused
    keyed, _ = client_for(build_app(k, parse_keys(["s3cret=agent"])), key="wrong")
    with pytest.raises(openai.AuthenticationError):
        keyed.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    agent, _ = client_for(build_app(k, parse_keys(["s3cret=agent"])), key="s3cret")
    with pytest.raises(openai.PermissionDeniedError) as e:  # agent is not granted llm.chat
        agent.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert "EACCES" in str(e.value) and "llm.chat" in str(e.value)
    with pytest.raises(SyscallError):
        parse_keys(["nokey"])


def test_no_key_means_loopback_only(served):
    from fastapi.testclient import TestClient

    k, d = served
    d.queue("hi")
    far = TestClient(build_app(k, {}), client=("203.0.113.9", 5000))
    r = far.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401 and "loopback" in r.json()["error"]["message"]
    near = TestClient(build_app(k, {}), client=("127.0.0.1", 5000))
    assert near.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}).status_code == 200


# -- the real thing: `llmos serve` on the default model, the openai client over HTTP -----------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-home")
    port = free_port()
    args = [sys.executable, "-m", "llmos.shell.cli", "serve", "--port", str(port), "--slots", "16", "--ctx", "2048"]
    with running(args, f"http://127.0.0.1:{port}/v1/models", home / "serve.log", env={"LLMOS_HOME": str(home)}):
        yield f"http://127.0.0.1:{port}/v1", home


@pytest.mark.real
def test_the_openai_client_against_llmos_serve(server):
    import openai

    url, home = server
    client = openai.OpenAI(base_url=url, api_key="none")
    assert [m.id for m in client.models.list()] == ["default"]
    r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Say hello."}],
                                       max_tokens=16, temperature=0)
    text = r.choices[0].message.content
    assert text.strip() and r.usage.completion_tokens <= 16
    stream = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Say hello."}],
                                            max_tokens=16, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == text  # same greedy answer, streamed
    r = client.chat.completions.create(model="default", temperature=0, max_tokens=120, tools=[BOOK],
                                       tool_choice="required",
                                       messages=[{"role": "user", "content": "Book the Ritz for 2 nights for 3 guests."}])
    call = r.choices[0].message.tool_calls[0].function
    args = json.loads(call.arguments)
    assert call.name == "book_room" and isinstance(args["stay"]["nights"], int) and isinstance(args["hotel"], str)


@pytest.mark.real
def test_sixteen_clients_at_once_are_all_answered(server):
    import openai

    url, home = server
    answers, errors = [], []

    def one(i):
        try:
            c = openai.OpenAI(base_url=url, api_key="none", timeout=300)
            r = c.chat.completions.create(model="default", max_tokens=24, temperature=0,
                                          messages=[{"role": "user", "content": f"Name a fruit, number {i}."}])
            answers.append(r.choices[0].message.content)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors and len(answers) == 16 and all(a.strip() for a in answers)
    with Kernel.boot(home) as k:  # 16 processes of app api, each with its journaled llm.chat
        rows = [r for r in k.journal.tail(40) if r["name"] == "llm.chat"]
        assert len({r["pid"] for r in rows}) >= 16 and all(r["ok"] for r in rows)
