"""llm.*: the model itself, as a device every process can call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..drivers.base import Sampling, SamplingParams
from .context import CallContext
from .errno import Errno, SyscallError
from .grammar import CALL_OPEN, NO_CALL, RESULT_OPEN, Function, action_grammar, parse_action
from .schema import check
from .spec import Args, Result, syscall


class SamplingArgs(SamplingParams, Args):
    """The sampling fields (drivers/base.py: SamplingParams, defined once) as syscall arguments."""

    def sampling(self, ctx: CallContext) -> Sampling:
        if self.max_tokens > ctx.limits.max_tokens:
            raise SyscallError(Errno.EINVAL, f"max_tokens {self.max_tokens} is over this process's limit of {ctx.limits.max_tokens}")
        sampling = Sampling(**self.model_dump(include=set(SamplingParams.model_fields)))
        sampling.max_tokens = max(1, min(sampling.max_tokens, int(min(ctx.tokens_left, 1 << 30))))  # the budget's
        return sampling


class ToolCall(Result):
    name: str
    arguments: dict


class GenResult(Result):
    text: str
    finish_reason: Literal["stop", "length", "cancelled"]
    prompt_tokens: int
    completion_tokens: int
    tool_call: ToolCall | None = None  # llm.chat with tools: the call the answer made


class _ReplyOnly:
    """Streams only a reply: under tools, less the leading "no function is needed" list, and
    nothing of a call (a call is the result's tool_call, not text). Text is held back only while
    it could still be either."""

    def __init__(self, emit, tools: bool):
        self.emit, self.held, self.state = emit, "", "deciding" if tools else "reply"

    def __call__(self, text: str) -> None:
        if self.state != "deciding":
            if self.state == "reply":
                self.emit(text)
            return
        self.held += text
        if self.held.startswith(NO_CALL):
            self.state = "reply"
            self.emit(self.held[len(NO_CALL):])
        elif self.held.startswith(CALL_OPEN):
            self.state = "call"
        elif not NO_CALL.startswith(self.held) and not CALL_OPEN.startswith(self.held):
            self.state = "reply"
            self.emit(self.held)


def _generate(ctx: CallContext, prompt: str | list[int], sampling: Sampling, *, tools: bool = False,
              agent: bool = False) -> GenResult:
    # Through the kernel: batched by the scheduler (the shell's calls at interactive priority).
    if ctx.one_shot:
        # An independent job of a batch waits its turn behind the others: its time limit would
        # count the queue, not its work (seen: 77 of 80 `llmos batch` lines ETIMEDOUT on a busy
        # machine). Cancellation still ends it.
        ctx.deadline = float("inf")
    gen = ctx.services.generate(ctx.pid, prompt, sampling, on_text=_ReplyOnly(ctx.emit, tools), check=ctx.check, key=("llm", ctx.pid),
                                priority=ctx.priority, one_shot=ctx.one_shot, agent=agent)
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


class FunctionSpec(Args):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    description: str = Field("", max_length=2000)
    parameters: dict = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpec(Args):
    """A function in the OpenAI format: {"type": "function", "function": {name, description, parameters}}."""

    type: Literal["function"] = "function"
    function: FunctionSpec


class ChatArgs(SamplingArgs):
    messages: list[Message] = Field(min_length=1, max_length=500, description="the conversation so far")
    tools: list[ToolSpec] = Field(default_factory=list, max_length=64,
                                  description="functions the answer may call (the messages describe them to the model)")
    tool_choice: str = Field("auto", description="with tools: auto, required, none, or a function's name")


def _functions(tools: list[ToolSpec]) -> list[Function]:
    out = []
    for t in tools:
        f = t.function
        if f.parameters.get("type", "object") != "object":
            raise SyscallError(Errno.EINVAL, f"tool {f.name}: parameters must be a JSON Schema of type object")
        check(f.parameters, where=f"{f.name}.parameters")
        out.append(Function(f.name, f.description, f.parameters))
    if len({f.name for f in out}) != len(out):
        raise SyscallError(Errno.EINVAL, "two tools have the same name")
    return out


def _answer(functions: list[Function], text: str) -> ToolCall | str | None:
    """The call in `text`, checked against its function's schema; or the reply (without the empty
    call list it may follow); None when a call was cut off by max_tokens."""
    import jsonschema

    try:
        action = parse_action(text)
    except ValueError:
        return None  # cut off: the text is returned as it is, finish_reason "length"
    if not action.is_call:
        return action.text
    schema = next((f.parameters for f in functions if f.name == action.name), None)
    if schema is None:
        raise SyscallError(Errno.EIO, f"the model called {action.name!r}, which is not among the tools")
    try:
        jsonschema.validate(action.arguments, schema)
    except jsonschema.ValidationError as exc:
        raise SyscallError(Errno.EIO, f"the model's call to {action.name} does not match its schema: {exc.message}") from None
    return ToolCall(name=action.name, arguments=action.arguments)


@syscall("llm.chat", args=ChatArgs, result=GenResult, timeout=600.0, streams=True,
         examples=({"messages": [{"role": "user", "content": "Say hi"}]},))
def llm_chat(ctx: CallContext, a: ChatArgs) -> GenResult:
    """Answer a conversation as the assistant (with tools: a grammar-valid call or a reply)."""
    sampling = a.sampling(ctx)
    functions = _functions(a.tools) if a.tools else []
    # with tools: on the weights tuned for function calling (on `default`, llmos's adapter)
    driver = ctx.services.driver(agent=bool(functions))
    if functions:
        # auto, asked by the user about a tool: the model opens the call list and chooses inside
        # it between a call and `[]` + its reply (kernel/relevance.py says why).
        last = a.messages[-1]
        decide = (a.tool_choice == "auto" and last.role == "user" and not last.content.startswith(RESULT_OPEN)
                  and ctx.services.about(last.content, [(f.name, f.description) for f in functions]))
        sampling.grammar = action_grammar(functions, a.tool_choice, decide=decide)
    elif a.tool_choice not in ("auto", "none"):
        raise SyscallError(Errno.EINVAL, f"tool_choice {a.tool_choice!r} needs tools")
    prompt = driver.format_chat([m.model_dump() for m in a.messages])
    tokens = driver.tokenize(prompt, add_special=True, parse_special=True)
    result = _generate(ctx, tokens, sampling, tools=bool(functions), agent=bool(functions))
    if functions:
        answer = _answer(functions, result.text)
        if isinstance(answer, ToolCall):
            result.tool_call, result.text = answer, ""
        elif answer is not None and result.finish_reason == "stop":
            result.text = answer
    return result


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
