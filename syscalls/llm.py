"""llm.*: the model itself, as a device every process can call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..drivers.base import Sampling, SamplingParams
from .context import CallContext
from .errno import Errno, SyscallError
from .spec import Args, Result, syscall


class SamplingArgs(SamplingParams, Args):
    """The sampling fields (drivers/base.py: SamplingParams, defined once) as syscall arguments."""

    def sampling(self, ctx: CallContext) -> Sampling:
        if self.max_tokens > ctx.limits.max_tokens:
            raise SyscallError(Errno.EINVAL, f"max_tokens {self.max_tokens} is over this process's limit of {ctx.limits.max_tokens}")
        return Sampling(**self.model_dump(include=set(SamplingParams.model_fields)))


class GenResult(Result):
    text: str
    finish_reason: Literal["stop", "length", "cancelled"]
    prompt_tokens: int
    completion_tokens: int


def _generate(ctx: CallContext, prompt: str | list[int], sampling: Sampling) -> GenResult:
    # Through the kernel: on this thread alone, or batched by the scheduler while it runs
    # (the shell's calls at interactive priority).
    gen = ctx.services.generate(ctx.pid, prompt, sampling, on_text=ctx.emit, check=ctx.check, key=("llm", ctx.pid),
                                priority=ctx.priority, one_shot=ctx.one_shot)
    ctx.usage.tokens_in += gen.tokens_in
    ctx.usage.tokens_out += gen.tokens_out
    return GenResult(
        text=gen.text,
        finish_reason=gen.finish_reason,
        prompt_tokens=gen.tokens_in,
        completion_tokens=gen.tokens_out,
    )


class CompleteArgs(SamplingArgs):
    prompt: str = Field(description="text to continue", min_length=1, max_length=200_000)


@syscall("llm.complete", args=CompleteArgs, result=GenResult, timeout=600.0, streams=True,
         examples=({"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},))
def llm_complete(ctx: CallContext, a: CompleteArgs) -> GenResult:
    """Continue a text prompt with the model (streams as it generates)."""
    driver = ctx.services.driver()
    tokens = driver.tokenize(a.prompt, add_special=True, parse_special=False)
    return _generate(ctx, tokens, a.sampling(ctx))


class Message(Args):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=200_000)


class ChatArgs(SamplingArgs):
    messages: list[Message] = Field(min_length=1, max_length=500, description="the conversation so far")


@syscall("llm.chat", args=ChatArgs, result=GenResult, timeout=600.0, streams=True,
         examples=({"messages": [{"role": "user", "content": "Say hi"}]},))
def llm_chat(ctx: CallContext, a: ChatArgs) -> GenResult:
    """Answer a conversation as the assistant, in the model's chat format."""
    driver = ctx.services.driver()
    prompt = driver.format_chat([m.model_dump() for m in a.messages])
    tokens = driver.tokenize(prompt, add_special=True, parse_special=True)
    return _generate(ctx, tokens, a.sampling(ctx))


class TokenizeArgs(Args):
    text: str = Field(max_length=200_000)
    add_special: bool = Field(False, description="add the model's BOS token if it uses one")


class TokenizeResult(Result):
    tokens: list[int]
    count: int


@syscall("llm.tokenize", args=TokenizeArgs, result=TokenizeResult, examples=({"text": "hello world"},))
def llm_tokenize(ctx: CallContext, a: TokenizeArgs) -> TokenizeResult:
    """Split text into the model's tokens."""
    toks = ctx.services.driver().tokenize(a.text, add_special=a.add_special)
    return TokenizeResult(tokens=toks, count=len(toks))
