"""mem.*: a process's memory beyond its context window: archival facts, recall, core, paging stats.

The memory manager is the kernel's (ctx.services.memory); these handlers only check and shape.
A process recalls its own conversation, the system-wide core block, its own core and every
archival fact; root (pid 0, the shell) sees everything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .context import CallContext
from .errno import Errno, SyscallError
from .spec import Args, Result, syscall

Source = Literal["conversation", "archival", "core"]


# -- mem.remember -----------------------------------------------------------------------------


class RememberArgs(Args):
    text: str = Field(description="the fact to keep, in plain words", min_length=1, max_length=4000)
    tags: list[str] = Field(default_factory=list, max_length=16, description="words to file it under")


class RememberResult(Result):
    id: int  # the memory item id (mem.recall shows it, mem.forget takes it)
    chars: int


@syscall("mem.remember", args=RememberArgs, result=RememberResult,
         examples=({"text": "The user's cat is called Miso.", "tags": ["pets"]},))
def mem_remember(ctx: CallContext, a: RememberArgs) -> RememberResult:
    """Store a fact in archival memory, with tags, for any process to recall."""
    tags = [t.strip() for t in a.tags if t.strip()]
    if any(len(t) > 64 for t in tags):
        raise SyscallError(Errno.EINVAL, "a tag is at most 64 characters; use short words")
    return RememberResult(id=ctx.services.memory.remember(ctx.pid, a.text, tags), chars=len(a.text))


# -- mem.recall -------------------------------------------------------------------------------


class RecallArgs(Args):
    query: str = Field(description="what to look for; meaning counts, not only exact words",
                       min_length=1, max_length=1000)
    k: int = Field(5, ge=1, le=50, description="most hits to return")
    sources: list[Source] = Field(default_factory=list, max_length=3,
                                  description="only these sources (default: all)")


class Hit(Result):
    id: int
    source: Source
    text: str
    score: float  # reciprocal-rank-fusion score, higher is better
    pid: int  # whose conversation, core block or remembered fact
    message_id: int | None  # for a conversation hit
    page: int | None  # the page it was paged out in; None while still in the window
    tags: list[str]
    ts: float


class RecallResult(Result):
    query: str
    hits: list[Hit]


@syscall("mem.recall", args=RecallArgs, result=RecallResult, timeout=300.0,
         examples=({"query": "what is the cat's name?", "k": 3},))
def mem_recall(ctx: CallContext, a: RecallArgs) -> RecallResult:
    """Search paged-out conversation, archival facts and core memory by meaning and words."""
    hits = ctx.services.memory.search(ctx.pid, a.query, a.k, sources=list(a.sources) or None, check=ctx.check)
    return RecallResult(query=a.query, hits=[Hit(**h) for h in hits])


# -- mem.append / mem.window: a process's own conversation ------------------------------------
# A code app that converses (the assistant, as the shell's chat) keeps its conversation where the
# kernel loop keeps an agent's: in the memory manager, committed message by message, paged out
# into a summary when it outgrows the window, and searchable by mem.recall.


class AppendArgs(Args):
    role: Literal["user", "assistant"] = Field(description="who said it")
    content: str = Field(max_length=200_000)
    kind: Literal["message", "action", "observation"] = Field(
        "message", description="message: said; action: a call the assistant made; observation: its result")


class AppendResult(Result):
    id: int  # the message's id once committed
    messages: int  # in the caller's conversation now


@syscall("mem.append", args=AppendArgs, result=AppendResult,
         examples=({"role": "user", "content": "What is my sister called?"},))
def mem_append(ctx: CallContext, a: AppendArgs) -> AppendResult:
    """Add a message to the caller's own conversation (committed to SQLite, paged like any process's)."""
    if ctx.pid == 0:
        raise SyscallError(Errno.EINVAL, "the shell (pid 0) has no conversation of its own; run an app as a process")
    mem = ctx.services.memory
    mid = mem.append(ctx.pid, a.role, a.content, kind=a.kind)
    return AppendResult(id=mid, messages=mem.counts(ctx.pid)[0])


class WindowArgs(Args):
    system: str = Field("", max_length=50_000, description="the system prompt to put first (empty: none)")
    answer_tokens: int = Field(256, ge=1, description="room left in the context window for the answer")


class WindowMessage(Result):
    role: Literal["system", "user", "assistant"]
    content: str


class WindowResult(Result):
    messages: list[WindowMessage]  # ready for llm.chat
    resident: int  # of the conversation's messages, in the window
    paged_out: int  # on disk only (a summary of them heads the window)


@syscall("mem.window", args=WindowArgs, result=WindowResult, timeout=300.0,
         examples=({}, {"system": "Answer briefly.", "answer_tokens": 512}))
def mem_window(ctx: CallContext, a: WindowArgs) -> WindowResult:
    """The caller's conversation as the model should see it: older turns paged out to fit the window."""
    if ctx.pid == 0:
        raise SyscallError(Errno.EINVAL, "the shell (pid 0) has no conversation of its own; run an app as a process")
    driver = ctx.services.driver()
    n_ctx = driver.n_ctx()
    budget = n_ctx - a.answer_tokens - 16  # 16: the chat template's generation prompt
    if budget < 64:
        raise SyscallError(Errno.EINVAL, f"answer_tokens {a.answer_tokens} leaves no room in a {n_ctx}-token window; ask for fewer")
    mem = ctx.services.memory
    window = mem.window(ctx.pid, a.system, budget, lambda text: len(driver.tokenize(text)), check=ctx.check)
    if window and window[0]["role"] == "system" and not window[0]["content"]:
        window = window[1:]  # no system prompt: the model's chat template puts its own, if it has one
    total, out = mem.counts(ctx.pid)
    return WindowResult(messages=[WindowMessage(**m) for m in window], resident=total - out, paged_out=out)


# -- mem.forget -------------------------------------------------------------------------------


class ForgetArgs(Args):
    id: int = Field(ge=1, description="memory item id, from mem.recall or mem.remember")


class ForgetResult(Result):
    id: int
    source: Source
    forgotten: bool


@syscall("mem.forget", args=ForgetArgs, result=ForgetResult, examples=({"id": 42},))
def mem_forget(ctx: CallContext, a: ForgetArgs) -> ForgetResult:
    """Forget one memory item for good: gone from the word and vector indexes."""
    r = ctx.services.memory.forget(ctx.pid, a.id)
    return ForgetResult(id=r["id"], source=r["source"], forgotten=True)


# -- mem.core ---------------------------------------------------------------------------------


class CoreArgs(Args):
    text: str | None = Field(None, max_length=20_000,
                             description="new pinned text (replaces it; empty clears it); omit to read")


class CoreResult(Result):
    pid: int  # 0: the system-wide block every process sees
    text: str
    chars: int
    limit: int


@syscall("mem.core", args=CoreArgs, result=CoreResult,
         examples=({}, {"text": "The user prefers short answers."}))
def mem_core(ctx: CallContext, a: CoreArgs) -> CoreResult:
    """Read or replace the caller's core memory: short facts pinned in every window."""
    mem = ctx.services.memory
    if a.text is not None:
        mem.core_set(ctx.pid, a.text)
    text = mem.core_get(ctx.pid)
    return CoreResult(pid=ctx.pid, text=text, chars=len(text), limit=mem.core_chars)


# -- mem.stat ---------------------------------------------------------------------------------


class StatArgs(Args):
    pid: int | None = Field(None, ge=0, description="one process (default: the caller's; root: all)")


class StatResult(Result):
    pid: int | None
    messages: int
    resident: int  # in the window
    paged_out: int  # on disk only
    pages: int
    resident_tokens: int  # of the messages whose token count is known
    paged_out_tokens: int
    summaries: int
    archival: int
    core_blocks: int
    fts_rows: int  # whole word index
    vector_rows: int  # whole vector index
    pending_embeddings: int


@syscall("mem.stat", args=StatArgs, result=StatResult, examples=({}, {"pid": 3}))
def mem_stat(ctx: CallContext, a: StatArgs) -> StatResult:
    """Show pages resident and paged out, tokens, and the sizes of the memory indexes."""
    pid = a.pid if a.pid is not None else (ctx.pid or None)
    if ctx.pid != 0 and pid != ctx.pid:
        raise SyscallError(Errno.EACCES, f"a process sees only its own memory stats (pid {ctx.pid})")
    return StatResult(**ctx.services.memory.stat(pid))
