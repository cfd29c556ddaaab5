"""Generation routing: every generation on the model goes through the scheduler.

The agent loop, `llm.*` syscalls, summaries and `llmos batch` all call `Kernel.generate`, which
submits to the one scheduler over the driver (made on first use) and waits. Each request names
the KV it builds on (`key`: a process's own, its llm.* calls', the shell's) and its priority
(the shell interactive, processes their own, batch jobs batch).

Processes' action loops may decode on other weights than chat (`agent`: on `default`, the default
model with llmos's own adapter, Kernel.agent_spec); each loaded model has its own scheduler, and
where the two are one model they share it.

run_many's threads hold the kernel's big lock between generations (the SQLite connection is
shared); while one of them waits on the scheduler it lets go, so their decodes share steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from ..drivers.base import Generation, Sampling
from ..syscalls.errno import SyscallError
from .scheduler import INTERACTIVE, NORMAL, Scheduler


class Router:
    """The schedulers over a kernel's drivers (one per loaded model), and the way to them."""

    def __init__(self, kernel):
        self.k = kernel
        self._scheds: dict[int, Scheduler] = {}  # by id(driver)
        self._lock = threading.Lock()
        # run_many's big kernel lock: the SQLite connection is shared, so process threads take
        # turns between generations and run at once only while the scheduler decodes for them.
        self.bkl = threading.Lock()
        self.tls = threading.local()

    @property
    def scheduler(self) -> Scheduler:
        """The chat model's scheduler (the only one where processes decode on the same model)."""
        return self.scheduler_of(self.k.driver())

    def scheduler_of(self, driver) -> Scheduler:
        with self._lock:
            sched = self._scheds.get(id(driver))
            if sched is None:
                home, n = self.k.home, len(self._scheds)
                sched = self._scheds[id(driver)] = Scheduler(driver, home / ("swap" if n == 0 else f"swap-{n}"),
                                                             stats_dir=home / "run", model=driver.info.spec)
        return sched

    def started(self) -> Scheduler | None:
        """The first scheduler made, if any."""
        return next(iter(self._scheds.values()), None)

    def priority(self, pid: int) -> int:
        """Scheduling priority of `pid`'s generations: the shell (0) is interactive."""
        if pid == 0:
            return INTERACTIVE
        try:
            return self.k.procs.get(pid).priority
        except SyscallError:  # not in the process table (a test's or a tool's own pid)
            return NORMAL

    def generate(self, pid: int, prompt: list[int] | str, sampling: Sampling, *,
                 on_text: Callable[[str], None] | None = None, check: Callable[[], None] | None = None,
                 key: Hashable | None = None, priority: int | None = None, one_shot: bool = False,
                 agent: bool = False) -> Generation:
        """Generate for process `pid` (0: the shell), batched with everything else on the model,
        building on the KV of `key` (default: the process's own; `one_shot`: nobody's); `agent`:
        on the weights of processes' action loops."""
        driver = self.k.driver(agent=agent)
        sched = self.scheduler_of(driver)
        tokens = driver.prompt_tokens(prompt) if isinstance(prompt, str) else prompt
        prio = self.priority(pid) if priority is None else priority
        key = None if one_shot else (pid if key is None else key)
        if not getattr(self.tls, "bkl", False):
            return sched.generate(key, tokens, sampling, on_text=on_text, check=check, priority=prio, pid=pid)

        def locked(fn):
            def call(*a):
                with self.bkl:
                    return fn(*a)
            return None if fn is None else call

        self.bkl.release()  # let the other processes' threads reach the scheduler too
        try:
            return sched.generate(key, tokens, sampling, on_text=locked(on_text), check=locked(check),
                                  priority=prio, pid=pid)
        finally:
            self.bkl.acquire()

    def run_many(self, pids: list[int], on_step: Callable | None, **kw) -> None:
        """Run processes at once, each loop in its own thread; re-raises the first failure."""
        errors: list[BaseException] = []

        def one(pid: int) -> None:
            self.tls.bkl = True
            try:
                with self.bkl:
                    for step in self.k.run(pid, **kw):
                        if on_step is not None:
                            on_step(step)
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(pid,), name=f"llmos-pid-{pid}", daemon=True) for pid in pids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def forget(self, pid: int) -> None:
        for sched in list(self._scheds.values()):
            sched.forget(pid)

    def close(self) -> None:
        with self._lock:
            scheds, self._scheds = list(self._scheds.values()), {}
        for sched in scheds:
            sched.close()
