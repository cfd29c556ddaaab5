"""The llmos side of bench/toolcall.py: each case's tool registered through the public path,
its question run as a process granted only that tool, under a tool_choice.

Processes run through the scheduler several at a time (`run_many`), as a user's would.
"""

from __future__ import annotations

from collections.abc import Callable


def run_llmos(cases: list[dict], model: str, tool_choice: str, *, batch: int = 8,
              advance: Callable[[], None] | None = None, driver=None) -> list[dict | None]:
    """For each case, what the process called first: {"name", "arguments"}, or None where it
    answered without calling its tool. `driver`: an open driver to use instead of `model`'s."""
    from _common import temp_home
    from llmos.kernel import Kernel
    from llmos.syscalls.caps import CapSet
    from llmos.syscalls.tool import Tool

    calls: list[dict | None] = [None] * len(cases)
    boot = {"driver": driver} if driver is not None else {"model": model, "slots": batch, "slot_ctx": 2048}
    with Kernel.boot(temp_home(), **boot) as k:
        for start in range(0, len(cases), batch):
            chunk = list(enumerate(cases))[start:start + batch]
            k.tools.remove_app("bench")
            pids = {}
            for i, case in chunk:
                tool = case["tool"]
                k.tools.add(Tool.from_schema(tool, lambda args: {"ok": True}, app="bench"))
                p = k.spawn(task=case["question"], caps=CapSet.parse([f"tool.call:{tool['name']}"]),
                            max_steps=1, max_tokens=224, timeout=3600, tool_choice=tool_choice, app="bench")
                pids[p.pid] = i
            firsts: dict[int, dict] = {}

            def on_step(step, firsts=firsts):
                if step.type == "action" and step.pid not in firsts:
                    firsts[step.pid] = {"name": step.call, "arguments": step.args}

            k.run_many(list(pids), on_step=on_step)
            for pid, i in pids.items():
                got = firsts.get(pid)
                calls[i] = got if got is not None and got["name"] != "reply" else None
                if advance is not None:
                    advance()
            k.tools.remove_app("bench")
    return calls
