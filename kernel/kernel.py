"""The kernel: boots storage, owns the driver, builds call contexts and dispatches.

It is the `Services` handlers reach (syscalls/context.py): the driver, the process table, the
memory manager, generation through the scheduler (generation.py), spawning and waiting.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import BaseModel

from ..drivers.base import Driver, DriverError, Generation, Sampling
from ..drivers.models import DEFAULT_ALIASES, ModelStore, Progress
from ..drivers.plugins import collect
from ..syscalls.budget import Budget
from ..syscalls.caps import ROOT, CapSet
from ..syscalls.context import CallContext, Limits
from ..syscalls.dispatch import Dispatcher, JournalEntry
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.grammar import check_choice
from ..syscalls.table import TABLE
from ..syscalls.tool import ToolRegistry
from .generation import Router
from .grants import Grants
from .home import data_dir
from .journal import Journal
from .mcp import Mounts
from .memory import Memory
from .process import ENDED, Process, ProcessTable, ProcState, Quotas
from .relevance import relevant
from .settings import Settings
from .store import Store
from .stubs import Stubs


def llmos_version() -> str:
    try:
        return version("llmos")
    except PackageNotFoundError:
        return "0.0.0+unknown"


class Kernel:
    def __init__(self, home: Path, store: Store, settings: Settings, *, driver: Driver | None = None,
                 agent_driver: Driver | None = None, workspace: Path | None = None):
        self.home = home
        self.store = store
        self.settings = settings
        self.models = ModelStore(home / "models")
        self.table = TABLE
        self.journal = Journal(store)
        self.memory = Memory(store, services=self)  # conversations, paging, recall
        self.dispatcher = Dispatcher(TABLE, self._journal_write)
        self.procs = ProcessTable(store, home)
        self.grants = Grants(store)
        self._budgets: dict[int, Budget] = {}  # live processes' budgets, shared by every call they make
        self.recovered = self.procs.recover()  # processes a crashed kernel left running
        self.workspace = (workspace or home / "workspace").resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.limits = Limits()
        self.progress: Progress | None = None  # the shell sets one to show model preparation
        self._driver = driver
        self._owns_driver = driver is None  # a driver handed in (tests, benchmarks) is the caller's to close
        self._driver_lock = threading.Lock()
        # the weights processes' action loops decode with, where they differ from the model's
        # (agent_spec); handed in with a driver (tests), else opened on first use
        self._agent_driver = agent_driver
        self._owns_agent = agent_driver is None
        self.router = Router(self)  # every generation goes through its scheduler
        self.tools = ToolRegistry(reserved=set(TABLE))  # the plugins' now; apps add theirs
        for tool in collect("register_tools"):
            self.tools.add(tool)
        self.mcp = Mounts(self.home, self.tools)  # mounted MCP servers' tools (started on first call)
        self.mcp.load()
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
        agent_driver: Driver | None = None,
        workspace: str | Path | None = None,
        api_key: str | None = None,
    ) -> Kernel:
        """Open the data directory and its database; the model loads on first use, with `slots`
        sequence slots (env LLMOS_SLOTS, default 4) of `slot_ctx` tokens each (LLMOS_CTX, 4096)."""
        root = data_dir(home)
        settings = Settings.resolve(model=model, gpu_layers=gpu_layers, slots=slots, slot_ctx=slot_ctx,
                                    api_key=api_key)
        try:
            store = Store(root / "llmos.db")
        except sqlite3.DatabaseError as exc:
            raise SyscallError(Errno.EIO, f"cannot open {root / 'llmos.db'}: {exc}; move it aside to start fresh") from None
        return cls(root, store, settings, driver=driver, agent_driver=agent_driver,
                   workspace=Path(workspace) if workspace else None)

    @property
    def model_spec(self) -> str:
        return self.settings.model

    @model_spec.setter
    def model_spec(self, spec: str) -> None:
        self.settings.model = spec

    @property
    def slots(self) -> int:
        return self.settings.slots

    @property
    def slot_ctx(self) -> int:
        return self.settings.slot_ctx

    def use_model(self, spec: str) -> None:
        """Switch to model `spec`: the scheduler and the loaded model close (their KV with them);
        the new one loads on first use."""
        self.router.close()
        self._close_drivers()
        if not self._owns_agent:  # a handed-in agent driver belonged to the old model
            self._agent_driver, self._owns_agent = None, True
        self.settings.model = spec

    def prefer_size(self, *, slots: int, slot_ctx: int) -> None:
        """A command's preferred slots and context per slot (`llmos batch`: many short jobs),
        taken where the user did not choose them and the model is not loaded yet."""
        if self._driver is None:
            self.settings.prefer(slots=slots, slot_ctx=slot_ctx)

    # -- the services handlers reach through ctx.services ------------------------------------

    @property
    def agent_spec(self) -> str:
        """The weights processes' action loops decode with: LLMOS_AGENT_MODEL, else on `default`
        the default model with llmos's own adapter folded in (ModelStore.agent_spec), else the
        model itself. A driver handed in without an agent driver serves both."""
        if self._agent_driver is not None:
            return self._agent_driver.info.spec
        if not self._owns_driver:
            return self.model_spec
        tuned = self.models.agent_spec(self.model_spec)
        if tuned == self.model_spec:  # not `default`: the model runs everything itself
            return tuned
        chosen = self.settings.agent_model
        if chosen is None:
            return tuned
        return self.model_spec if chosen in DEFAULT_ALIASES else chosen  # the plain model: one driver

    def driver(self, *, agent: bool = False) -> Driver:
        """The loaded model (opened on first use); `agent`: the one processes' action loops decode
        with, which is the same driver unless agent_spec names other weights."""
        if agent and (self._agent_driver is not None or self.agent_spec != self.model_spec):
            if self._agent_driver is None:
                with self._driver_lock:
                    if self._agent_driver is None:
                        self._agent_driver = self._open(self.agent_spec)
            return self._agent_driver
        if self._driver is None:
            with self._driver_lock:
                if self._driver is None:
                    self._driver = self._open(self.model_spec)
        return self._driver

    def _open(self, spec: str) -> Driver:
        from ..drivers.loader import open_driver

        s = self.settings
        return open_driver(spec, self.models, gpu_layers=s.gpu_layers, n_seq=s.slots, n_ctx=s.slot_ctx,
                           progress=self.progress, api_key=s.api_key)

    def _close_drivers(self) -> None:
        """Close the drivers this kernel opened (one handed in is its caller's)."""
        for d, owned in ((self._driver, self._owns_driver), (self._agent_driver, self._owns_agent)):
            if d is not None and owned:
                d.close()
        if self._owns_driver:
            self._driver = None
        if self._owns_agent:
            self._agent_driver = None

    def info(self) -> dict:
        return {
            "version": llmos_version(),
            "model": self.model_spec,
            "model_loaded": self._driver is not None,
            "data_dir": str(self.home),
            # a process's context window in tokens: the loaded model's, else the one it will get
            "window": self._driver.n_ctx() if self._driver is not None else self.settings.slot_ctx,
        }

    def about(self, text: str, functions: list[tuple[str, str]]) -> bool:
        """Whether `text` is close to one of `functions` (name, description) (relevance.py); with
        no embedder to ask (its package missing or broken), False: the model starts freely."""
        try:
            return relevant(self.memory.embedder, text, functions)
        except Exception:  # noqa: BLE001 - a hint, never a failure
            return False

    def generate(self, pid: int, prompt: list[int] | str, sampling: Sampling, *,
                 on_text: Callable[[str], None] | None = None, check: Callable[[], None] | None = None,
                 key: Hashable | None = None, priority: int | None = None, one_shot: bool = False,
                 agent: bool = False) -> Generation:
        """Generate for process `pid` (0: the shell) through the scheduler (generation.py);
        `agent`: on the weights of processes' action loops (agent_spec)."""
        return self.router.generate(pid, prompt, sampling, on_text=on_text, check=check, key=key,
                                    priority=priority, one_shot=one_shot, agent=agent)

    @property
    def scheduler(self):
        """The scheduler every generation on the model goes through (made on first use)."""
        return self.router.scheduler

    # -- calls -------------------------------------------------------------------------------

    def context(self, *, pid: int = 0, caps: CapSet = ROOT, workspace: Path | str | None = None,
                stream: Callable[[str], None] | None = None, limits: Limits | None = None,
                cancel: threading.Event | None = None) -> CallContext:
        ctx = CallContext(workspace=Path(workspace) if workspace else self.workspace, services=self, pid=pid,
                          caps=caps, limits=limits or self.limits, stream=stream)
        if cancel is not None:
            ctx.cancel = cancel
        ctx.budget = self.budget(pid)
        return ctx

    def budget(self, pid: int) -> Budget | None:
        """Process `pid`'s one budget (None for root, or a pid not in the table), chained to its
        parent's so that what it spends is charged up the tree."""
        if pid == 0:
            return None
        with Budget.LOCK:
            b = self._budgets.get(pid)
            if b is None:
                try:
                    p = self.procs.get(pid)
                except SyscallError:
                    return None
                b = Budget(pid, p.quotas, p.spent, parent=self.budget(p.parent) if p.parent else None,
                           save=self.procs.save_spent, killed=self.procs.kill_requested)
                self._budgets[pid] = b
            return b

    def forget_budget(self, pid: int) -> None:
        """A process ended: its budget is saved and dropped (a later charge reads it back)."""
        with Budget.LOCK:
            b = self._budgets.pop(pid, None)
            if b is not None:
                b.save()

    def call(self, name: str, args: dict | None = None, *, stream: Callable[[str], None] | None = None,
             ctx: CallContext | None = None) -> BaseModel:
        """Make one syscall as the root process (or with `ctx`); raises SyscallError on failure."""
        return self.dispatcher.dispatch(ctx or self.context(stream=stream), name, args or {})

    # -- processes ----------------------------------------------------------------------------

    def spawn(self, *, task: str, caps: CapSet, app: str = "agent", parent: int = 0, max_steps: int | None = None,
              max_tokens: int | None = None, timeout: float | None = None, max_bytes: int | None = None,
              workspace: str | Path | None = None, priority: int = 0, tool_choice: str = "auto") -> Process:
        """Create a ready process; `run(pid)` (or a parent's proc.wait) runs it. `tool_choice`:
        auto (call or reply), required (call first), none (reply only), or a function's name."""
        names = caps.names_allowed(sorted(TABLE)) + [t.name for t in self.tools.granted(caps)]
        check_choice(tool_choice, names)
        q = Quotas()
        for name, value in (("steps", max_steps), ("tokens", max_tokens), ("seconds", timeout), ("bytes", max_bytes)):
            if value is not None:
                setattr(q, name, value)
        parent_budget = self.budget(parent) if parent else None
        if parent_budget is not None:  # a child's budget is carved out of what its parent has left
            q = parent_budget.carve(q)
        return self.procs.spawn(app=app, task=task, caps=caps, quotas=q, parent=parent, workspace=workspace,
                                priority=priority, tool_choice=tool_choice)

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
            self.router.forget(pid)  # its KV is of no more use
            self.forget_budget(pid)

    def run_many(self, pids: list[int], *, on_step: Callable | None = None, **kw) -> list[Process]:
        """Run processes at once, each loop in its own thread, the scheduler batching their
        decoding; `on_step(step)` is called from those threads. Returns them as they ended."""
        self.router.run_many(pids, on_step, **kw)
        return [self.procs.get(pid) for pid in pids]

    def run_to_end(self, pid: int, check: Callable[[], None] | None = None) -> Process:
        """Drive a ready process to its end (proc.wait), else wait for the kernel running it."""
        p = self.procs.get(pid)
        if p.state == ProcState.READY:
            for _ in self.run(pid):
                if check is not None:
                    check()
        while self.procs.get(pid).state not in ENDED:
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
        self.mcp.close()
        self.router.close()
        self._close_drivers()
        self._driver = self._agent_driver = None
        self.store.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Kernel", "DriverError"]
