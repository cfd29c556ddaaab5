"""llm.* through the dispatcher on the scripted driver: arguments, streaming, stops, usage."""

from __future__ import annotations

import pytest
from llmos.syscalls.errno import Errno, SyscallError


def test_complete_streams_and_returns_the_same_text(kernel, scripted):
    scripted.queue("Paris is the capital.")
    pieces = []
    r = kernel.call("llm.complete", {"prompt": "The capital of France is", "temperature": 0}, stream=pieces.append)
    assert r.text == "Paris is the capital." == "".join(pieces)
    assert (r.finish_reason, r.completion_tokens) == ("stop", 4)
    assert scripted.samplings[-1].temperature == 0


def test_max_tokens_and_stop_strings(kernel, scripted):
    scripted.queue("a b c d e f", "one two STOP three")
    r = kernel.call("llm.complete", {"prompt": "x", "max_tokens": 3})
    assert (r.text, r.finish_reason) == ("a b c ", "length")
    pieces = []
    r = kernel.call("llm.complete", {"prompt": "x", "stop": ["STOP"]}, stream=pieces.append)
    assert r.text == "one two " == "".join(pieces)


def test_chat_formats_messages(kernel, scripted):
    scripted.queue("Hi!")
    r = kernel.call("llm.chat", {"messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Say hi"}]})
    assert r.text == "Hi!"
    assert "<|im_start|>user\nSay hi<|im_end|>" in scripted.prompts[-1]
    assert scripted.prompts[-1].endswith("<|im_start|>assistant\n")


def test_chat_rejects_bad_roles(kernel):
    with pytest.raises(SyscallError) as info:
        kernel.call("llm.chat", {"messages": [{"role": "wizard", "content": "x"}]})
    assert info.value.code == Errno.EINVAL and "role" in info.value.message


def test_tokenize(kernel):
    r = kernel.call("llm.tokenize", {"text": "héllo"})
    assert r.count == len("héllo".encode()) == len(r.tokens)


def test_max_tokens_over_the_process_limit(kernel):
    kernel.limits.max_tokens = 10
    with pytest.raises(SyscallError) as info:
        kernel.call("llm.complete", {"prompt": "x", "max_tokens": 11})
    assert info.value.code == Errno.EINVAL


def test_driver_failure_is_eio(kernel):
    with pytest.raises(SyscallError) as info:
        kernel.call("llm.complete", {"prompt": "nothing is queued"})
    assert info.value.code == Errno.EIO
