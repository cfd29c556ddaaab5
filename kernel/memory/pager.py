"""The context pager: composes a process's window and pages old messages out into a summary.

The window is `system | core memory (pinned) | summary of paged-out pages | recent messages`,
counted in the driver's own tokens. Past the high-water mark the oldest resident messages are
paged out in whole pages (still in SQLite, marked out, numbered) and folded into a running
summary the model writes, generated through the kernel (so through the scheduler) at the
process's own priority.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from ...drivers.base import Sampling
from ...syscalls.errno import Errno, SyscallError
from . import summary as summ

Count = Callable[[str], int]
DEFAULT_OVERHEAD = 8  # tokens of chat-template framing per message when no driver can say


class Pager:

    def overhead(self, *, agent: bool = False) -> int:
        """Tokens of chat-template framing around one message, from the driver when there is one
        (`agent`: the one processes decode with, so a process loads no other model)."""
        if self._overhead is None:
            try:
                d = self.services.driver(agent=agent)
                self._overhead = max(
                    len(d.tokenize(d.format_chat([{"role": r, "content": ""}], add_generation_prompt=False),
                                   parse_special=True))
                    for r in ("system", "user", "assistant"))
            except Exception:
                self._overhead = DEFAULT_OVERHEAD
        return self._overhead

    def window(self, pid: int, system: str, budget: int, count: Count, *, overhead: int | None = None,
               check: Callable[[], None] | None = None, agent: bool = False) -> list[dict]:
        """system | core memory | summary of paged-out pages | recent messages, within `budget`.

        Every message counts count(content) + `overhead` tokens (chat-template framing; default:
        measured on the driver). Past high_water x budget the oldest resident messages are paged
        out, in whole pages, down to low_water x budget. The result never exceeds `budget`.
        `check` is called between the summary's tokens (a cancel or kill stops the model's
        summary; the extractive one takes its place). `agent`: summaries on the weights processes'
        action loops decode with (Kernel.agent_spec), not the chat model's.
        """
        per = self.overhead(agent=agent) if overhead is None else overhead
        base = count(system) + per
        if base > budget:
            raise SyscallError(Errno.EFBIG, f"the system prompt alone is {base} tokens, over the window's {budget}; shorten it or use a model with a larger context")
        core = self.core_text(pid)
        prev = self.summary(pid)
        resident = self.messages(pid, resident_only=True)
        sizes = [self._tokens(m, count) + per for m in resident]
        head = count(self._head(system, core, prev["content"] if prev else ""))
        if head + per + sum(sizes) > self.high_water * budget and len(resident) > 1:
            self._page_out(pid, system, core, prev, resident, sizes, budget, count, per, check, agent)
            prev = self.summary(pid)
            resident = self.messages(pid, resident_only=True)
            sizes = [self._tokens(m, count) + per for m in resident]
        return self._compose(system, core, prev["content"] if prev else "", resident, sizes, budget, count, per)

    @staticmethod
    def _tokens(m: dict, count: Count) -> int:
        return m["tokens"] if m["tokens"] is not None else count(m["content"])

    @staticmethod
    def _head(system: str, core: str, summary: str) -> str:
        text = system
        if core:
            text += "\n\n## Core memory (pinned facts)\n" + core
        if summary:
            text += "\n\n## Summary of earlier conversation (paged out; mem.recall searches it)\n" + summary
        return text

    def _page_out(self, pid, system, core, prev, resident, sizes, budget, count, per, check=None,
                  agent: bool = False) -> None:
        """Mark the oldest whole pages out and fold them into the summary, in one transaction."""
        summary_limit = max(16, int(budget * self.summary_fraction))
        target = self.low_water * budget - (count(self._head(system, core, "")) + per + summary_limit + per)
        page_tokens = max(1, int(budget * self.page_fraction))
        pages: list[list[dict]] = []
        remaining, i = sum(sizes), 0
        while remaining > target and i < len(resident) - 1:  # the newest message always stays
            page, got = [], 0
            while i < len(resident) - 1 and (got < page_tokens or not page):
                page.append(resident[i])
                got += sizes[i]
                i += 1
            pages.append(page)
            remaining -= got
        if not pages:
            return
        text, sources = prev["content"] if prev else "", []
        gen = self._generator(pid, check, agent)
        for chunk in self._chunks(pages, sizes[: i], budget // 2):  # a backlog is folded in a few calls
            text, source = summ.summarize(gen, text, chunk, count, summary_limit)
            sources.append(source)
        source = next((s for s in sources if s != "model"), "model")
        first = (self._q("SELECT coalesce(max(page), 0) AS p FROM messages WHERE pid = ?", [pid])[0]["p"]) + 1
        with self._tx() as c:
            for n, page in enumerate(pages):
                ids = [m["id"] for m in page]
                c.execute(f"UPDATE messages SET paged_out = 1, page = ? WHERE paged_out = 0 AND id IN ({','.join('?' * len(ids))})",
                          [first + n, *ids])
            c.execute("INSERT INTO mem_summaries(pid, upto_page, content, tokens, source, ts) VALUES (?, ?, ?, ?, ?, ?)",
                      [pid, first + len(pages) - 1, text, count(text), source, time.time()])
        if self._embedder is not None and getattr(self._embedder, "loaded", False):
            self.index_pending()  # cheap once the model is in memory: keep the vector index current

    @staticmethod
    def _chunks(pages: list[list[dict]], sizes: list[int], limit: int) -> Iterator[list[dict]]:
        """Whole pages grouped so that each group's messages total at most `limit` tokens."""
        chunk: list[dict] = []
        got, at = 0, 0
        for page in pages:
            size = sum(sizes[at : at + len(page)])
            at += len(page)
            if chunk and got + size > limit:
                yield chunk
                chunk, got = [], 0
            chunk += page
            got += size
        if chunk:
            yield chunk

    def _generator(self, pid: int, check: Callable[[], None] | None = None,
                   agent: bool = False) -> Callable[[str, int], str] | None:
        """How page-out asks the model for a summary: through the kernel (so the scheduler), at
        process `pid`'s priority, building on no KV of its own; None without a kernel."""
        if self.services is None:
            return None

        def generate(prompt: str, max_tokens: int) -> str:
            d = self.services.driver(agent=agent)
            chat = d.format_chat([{"role": "user", "content": prompt}])
            if len(d.tokenize(chat, parse_special=True)) + max_tokens > d.n_ctx():
                raise ValueError("the pages to summarize do not fit the model's context")
            tokens = d.tokenize(chat, add_special=True, parse_special=True)
            return self.services.generate(pid, tokens, Sampling(max_tokens=max_tokens, temperature=0.0),
                                          check=check, one_shot=True, agent=agent).text

        return generate

    def _compose(self, system, core, summary, resident, sizes, budget, count, per) -> list[dict]:
        """The window; shrinks the summary, then core, then the newest message, to fit `budget`."""
        total = count(self._head(system, core, summary)) + per + sum(sizes)
        if total > budget and summary:
            room = count(summary) - (total - budget)
            summary = summ.fit(summary, room, count, keep="tail") if room > 0 else ""
            total = count(self._head(system, core, summary)) + per + sum(sizes)
        if total > budget and core:
            room = count(core) - (total - budget)
            core = summ.fit(core, room, count) if room > 0 else ""
            total = count(self._head(system, core, summary)) + per + sum(sizes)
        msgs = [{"role": m["role"], "content": m["content"]} for m in resident]
        while total > budget and len(msgs) > 1:  # only when a page-out could not run (one writer
            total -= sizes.pop(0)  # paging elsewhere, a shrunken budget): the oldest leave the window
            msgs.pop(0)
        if total > budget and msgs:
            msgs[-1]["content"] = self._cut(resident[-1], sizes[-1] - (total - budget) - per, count)
        window = [{"role": "system", "content": self._head(system, core, summary)}] + msgs
        for m in window[1:]:
            if m["role"] not in ("system", "user", "assistant"):
                m["role"] = "user"
        return window

    @staticmethod
    def _cut(m: dict, room: int, count: Count) -> str:
        note = f"\n[… cut to fit the window; the whole text is message {m['id']}]\n"
        keep = max(0, room - count(note))
        head = summ.fit(m["content"], keep // 2, count)
        tail = summ.fit(m["content"][len(head):], keep - count(head), count, keep="tail")
        text = head + note + tail
        return text if count(text) <= room else summ.fit(m["content"], room, count, keep="tail")
