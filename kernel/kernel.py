"""The kernel: boots storage, owns the driver, builds call contexts and dispatches."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import BaseModel

from ..drivers.base import Driver, DriverError
from ..drivers.models import ModelStore, Progress
from ..syscalls.caps import ROOT, CapSet
from ..syscalls.context import CallContext, Limits
from ..syscalls.dispatch import Dispatcher, JournalEntry
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.table import TABLE
from .grants import Grants
from .home import data_dir
from .journal import Journal
from .memory import Memory
from .process import Process, ProcessTable, Quotas
from .store import Store
from .stubs import Stubs


def llmos_version() -> str:
    try:
        return version("llmos")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def _setting(what: str, value: int | None, env: str, default: int | None, lo: int, hi: int) -> int | None:
    """An integer setting from an argument, else the environment, else the default; checked."""
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SyscallError(Errno.EINVAL, f"{env}={raw!r} is not a whole number; unset it or give one") from None
    if not lo <= value <= hi:
        raise SyscallError(Errno.EINVAL, f"{what} must be between {lo} and {hi}, not {value}")
    return value


class Kernel:
    def __init__(
        self,
        home: Path,
        store: Store,
        *,
        model: str,
        gpu_layers: int = 0,
        driver: Driver | None = None,
        workspace: Path | None = None,
    ):
        self.home = home
        self.store = store
        self.model_spec = model
        self.gpu_layers = gpu_layers
        self.slots = 4  # the model's sequence slots (processes decoding at once), set before it loads
        self.slot_ctx = 4096  # tokens of KV each slot holds: a process's context window
        self._sized: set[str] = set()  # which of the two the user chose (argument or environment)
        self.models = ModelStore(home / "models")
        self.table = TABLE
        self.journal = Journal(store)
        self.memory = Memory(store, services=self)  # conversations, paging, recall (issue 5)
        self.dispatcher = Dispatcher(TABLE, self._journal_write)
        self.procs = ProcessTable(store, home)
        self.grants = Grants(store)
        self.recovered = self.procs.recover()  # processes a crashed kernel left running
        self.workspace = (workspace or home / "workspace").resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.limits = Limits()
        self.progress: Progress | None = None  # the shell sets one to show model preparation
        self._driver = driver
        self._owns_driver = driver is None  # a driver handed in (tests, benchmarks) is the caller's to close
        self._driver_lock = threading.Lock()
        self._scheduler = None  # made on first use for drivers that batch (see `scheduler`)
        # run_many's big kernel lock: the SQLite connection is shared, so process threads take
        # turns between generations and run at once only while the scheduler decodes for them.
        self._bkl = threading.Lock()
        self._tls = threading.local()
        self.sys = Stubs(TABLE, lambda name, args: self.call(name, args))

    @classmethod
    def boot(
        cls,
        home: str | Path | None = None,
        *,
        model: str | None = None,
        gpu_layers: int | None = None,
        slots: int | None = None,
        slot_ctx: int | None = None,
        driver: Driver | None = None,
        workspace: str | Path | None = None,
    ) -> Kernel:
        """Open the data directory and its database; the model loads on first use, with `slots`
        sequence slots (env LLMOS_SLOTS, default 4) of `slot_ctx` tokens each (LLMOS_CTX, 4096)."""
        root = data_dir(home)
        try:
            store = Store(root / "llmos.db")
        except sqlite3.DatabaseError as exc:
            raise SyscallError(Errno.EIO, f"cannot open {root / 'llmos.db'}: {exc}; move it aside to start fresh") from None
        spec = model or os.environ.get("LLMOS_MODEL") or "default"
        layers = _setting("gpu_layers", gpu_layers, "LLMOS_GPU_LAYERS", 0, 0, 1000)
        k = cls(root, store, model=spec, gpu_layers=layers, driver=driver,
                workspace=Path(workspace) if workspace else None)
        for attr, what, value, env, lo, hi in (("slots", "slots", slots, "LLMOS_SLOTS", 1, 64),
                                                ("slot_ctx", "context", slot_ctx, "LLMOS_CTX", 256, 1 << 20)):
            chosen = _setting(what, value, env, None, lo, hi)
            if chosen is not None:
                setattr(k, attr, chosen)
                k._sized.add(attr)
        return k

    def prefer_size(self, *, slots: int, slot_ctx: int) -> None:
        """A command's preferred slots and context per slot (`llmos batch`: many short jobs),
        taken where the user did not choose them and the model is not loaded yet."""
        if self._driver is None:
            if "slots" not in self._sized:
                self.slots = slots
            if "slot_ctx" not in self._sized:
                self.slot_ctx = slot_ctx

    # -- services handlers reach through ctx.services ----------------------------------------

    def driver(self) -> Driver:
        if self._driver is None:
            with self._driver_lock:
                if self._driver is None:
                    from ..drivers.loader import open_driver

                    self._driver = open_driver(self.model_spec, self.models, gpu_layers=self.gpu_layers,
                                               n_seq=self.slots, n_ctx=self.slot_ctx,
                                               progress=self.progress)
        return self._driver

    def info(self) -> dict:
        return {
            "version": llmos_version(),
            "model": self.model_spec,
            "model_loaded": self._driver is not None,
            "data_dir": str(self.home),
        }

    # -- calls -------------------------------------------------------------------------------

    def context(self, *, pid: int = 0, caps: CapSet = ROOT, workspace: Path | str | None = None,
                stream: Callable[[str], None] | None = None, limits: Limits | None = None,
                cancel: threading.Event | None = None) -> CallContext:
        ctx = CallContext(workspace=Path(workspace) if workspace else self.workspace, services=self, pid=pid,
                          caps=caps, limits=limits or self.limits, stream=stream)
        if cancel is not None:
            ctx.cancel = cancel
        return ctx

    def call(self, name: str, args: dict | None = None, *, stream: Callable[[str], None] | None = None,
             ctx: CallContext | None = None) -> BaseModel:
        """Make one syscall as the root process (or with `ctx`); raises SyscallError on failure."""
        return self.dispatcher.dispatch(ctx or self.context(stream=stream), name, args or {})

    # -- processes ----------------------------------------------------------------------------

    def spawn(self, *, task: str, caps: CapSet, app: str = "agent", parent: int = 0, max_steps: int | None = None,
              max_tokens: int | None = None, timeout: float | None = None, max_bytes: int | None = None,
              workspace: str | Path | None = None, priority: int = 0) -> Process:
        """Create a ready process; `run(pid)` (or a parent's proc.wait) runs it."""
        q = Quotas()
        for name, value in (("steps", max_steps), ("tokens", max_tokens), ("seconds", timeout), ("bytes", max_bytes)):
            if value is not None:
                setattr(q, name, value)
        return self.procs.spawn(app=app, task=task, caps=caps, quotas=q, parent=parent, workspace=workspace,
                                priority=priority)

    def process_sys(self, pid: int) -> Stubs:
        """Syscall stubs bound to process `pid`: its grants, its workspace, its journal rows."""
        p = self.procs.get(pid)
        return Stubs(TABLE, lambda name, args: self.call(
            name, args, ctx=self.context(pid=pid, caps=p.capset, workspace=p.workspace)))

    def run(self, pid: int, **kw):
        """Run process `pid` to its end: a generator of Step records (see kernel.loop)."""
        from .loop import run

        try:
            yield from run(self, pid, **kw)
        finally:
            if self._scheduler is not None:
                self._scheduler.forget(pid)  # its swapped KV is of no more use

    def run_many(self, pids: list[int], *, on_step: Callable | None = None, **kw) -> list[Process]:
        """Run processes at once, each loop in its own thread, the scheduler batching their
        decoding; `on_step(step)` is called from those threads. Returns them as they ended."""
        errors: list[BaseException] = []

        def one(pid: int) -> None:
            self._tls.bkl = True
            try:
                with self._bkl:
                    for step in self.run(pid, **kw):
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
        return [self.procs.get(pid) for pid in pids]

    # -- generation: through the scheduler when the driver batches ----------------------------

    @property
    def scheduler(self):
        """The scheduler every generation on the model goes through (kernel/scheduler.py), made
        on first use; None for a driver that cannot batch (the scripted one)."""
        if self._scheduler is None:
            driver = self.driver()
            if hasattr(driver, "step"):
                with self._driver_lock:
                    if self._scheduler is None:
                        from .scheduler import Scheduler

                        self._scheduler = Scheduler(driver, self.home / "swap", stats_dir=self.home / "run",
                                                    model=self.model_spec)
        return self._scheduler

    def priority(self, pid: int) -> int:
        """Scheduling priority of `pid`'s generations: the shell (0) is interactive."""
        from .scheduler import INTERACTIVE

        return INTERACTIVE if pid == 0 else self.procs.get(pid).priority

    def generate(self, pid: int, prompt: list[int] | str, sampling, *, on_text: Callable[[str], None] | None = None,
                 check: Callable[[], None] | None = None, key=None, priority: int | None = None):
        """Generate for process `pid` (0: the shell) through the scheduler, batched with every
        other process, building on the KV of `key` (default: the process's own). A driver that
        cannot batch (the scripted one) generates straight, in slot pid % n_seq."""
        sched = self.scheduler
        if sched is None:
            driver = self.driver()
            return driver.generate(prompt, sampling, on_text=on_text, check=check,
                                   slot=pid % getattr(driver, "n_seq", 1))
        tokens = self.driver().prompt_tokens(prompt) if isinstance(prompt, str) else prompt
        prio = self.priority(pid) if priority is None else priority
        if not getattr(self._tls, "bkl", False):
            return sched.generate(pid if key is None else key, tokens, sampling, on_text=on_text, check=check,
                                  priority=prio, pid=pid)

        def locked(fn):
            def call(*a):
                with self._bkl:
                    return fn(*a)
            return None if fn is None else call

        self._bkl.release()  # let the other processes' threads reach the scheduler too
        try:
            return sched.generate(pid if key is None else key, tokens, sampling, on_text=locked(on_text),
                                  check=locked(check), priority=prio, pid=pid)
        finally:
            self._bkl.acquire()

    def run_to_end(self, pid: int, check: Callable[[], None] | None = None) -> Process:
        """Drive a ready process to its end (proc.wait before the scheduler), else wait for it."""
        import time

        p = self.procs.get(pid)
        if p.state == "ready":
            for _ in self.run(pid):
                if check is not None:
                    check()
        while self.procs.get(pid).state not in ("exited", "killed"):
            if check is not None:
                check()
            time.sleep(0.05)
        return self.procs.get(pid)

    def _journal_write(self, entry: JournalEntry) -> None:
        try:
            self.journal.write(entry)
        except sqlite3.Error as exc:
            raise SyscallError(Errno.EIO, f"cannot write the journal: {exc}") from None

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        if self._driver is not None and self._owns_driver:
            self._driver.close()
        self._driver = None
        self.store.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Kernel", "DriverError"]
