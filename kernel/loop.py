"""The agent loop: a process's model chooses one syscall at a time until it replies or exits.

Each turn: compose the window (memory manager) -> decode one action under the grammar of
exactly the calls this process may make -> commit it -> dispatch -> commit the observation.
`run()` is a generator of Step records (as smolagents' agent loop is): the shell renders them,
`--json` prints them, scripts iterate them. Nothing raises out of it: a failed syscall is an
observation the model can act on, and a spent budget, a kill or a driver failure ends the
process with a reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum

from ..drivers.base import DriverError, Sampling
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.grammar import Function, action_grammar, parse_action, render_call
from ..syscalls.table import TABLE
from .process import ENDED, ExitStatus, Process, ProcState
from .prompt import response, syscall_function, system_prompt

# A repeat penalty on actions hurts: it pushes the model off the JSON it must repeat (quotes,
# keys). Measured on 14 suite tasks: 1/14 sensible ends with 1.15, 3/14 without.
REPEAT_PENALTY = 1.0

OBSERVATION_CHARS = 1500  # what the model sees of a result
# Not offered to the model as functions even when granted: it is the model (llm.*), the table
# itself is long (sys.syscalls), and tools are offered by their own names (tool.call is how the
# kernel runs them); code apps may still call these.
NOT_FOR_THE_MODEL = ("llm.", "sys.syscalls", "sys.grant", "sys.revoke", "tool.call", "mem.append", "mem.window")
REPEATS = 3  # the same failing call this many times ends the process
# An action may take at most this share of the window; the grammar's bound on an action's
# length (every string and array capped) is in characters, far above its tokens, and must not
# squeeze the window to nothing on a small context.
ACTION_SHARE = 0.25


class StepType(StrEnum):
    ACTION = "action"  # the model chose a call
    OBSERVATION = "observation"  # its result or error, as the model sees it
    REPLY = "reply"  # the process answered and ended
    EXIT = "exit"  # the process ended without an answer (exit, kill, a spent budget)
    ERROR = "error"  # the process could not run or went on (a driver or kernel failure)


@dataclass
class Step:
    type: StepType
    pid: int
    step: int
    call: str | None = None
    args: dict | None = None
    ok: bool | None = None
    result: object = None
    errno: str | None = None
    message: str | None = None
    text: str | None = None
    status: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def model_functions(kernel, proc: Process) -> list[Function]:
    """What process `proc`'s model may call: its granted syscalls, then its granted tools."""
    names = proc.capset.names_allowed(sorted(TABLE))
    calls = [syscall_function(TABLE[n]) for n in names if not n.startswith(NOT_FOR_THE_MODEL)]
    return calls + [Function(t.name, t.description, t.parameters) for t in kernel.tools.granted(proc.capset)]


class Killed(Exception):
    pass


def run(kernel, pid: int, *, temperature: float = 0.0, seed: int | None = None) -> Iterator[Step]:
    """Run process `pid` to its end, yielding each step as it happens. Whatever happens inside,
    the process ends with a state, a status and a reason: none is left running."""
    proc = kernel.procs.get(pid)
    if proc.state in ENDED:
        yield Step(StepType.ERROR, pid, proc.spent.steps, errno="EINVAL", message=f"process {pid} has already ended")
        return
    loop = Loop(kernel, proc, temperature, seed)
    try:
        yield from loop.steps()
    except GeneratorExit:  # the caller stopped iterating (Ctrl-C in the shell)
        loop.end(ProcState.KILLED, ExitStatus.INTERRUPTED, "interrupted", StepType.EXIT, errno="EINTR")
        raise
    except Exception as exc:  # a kernel bug: one line for the user, the process ends
        yield loop.end(ProcState.EXITED, ExitStatus.FAILED, f"EIO: the kernel failed: {type(exc).__name__}: {exc}",
                       StepType.ERROR, errno="EIO")
    finally:
        if kernel.procs.get(pid).state not in ENDED:
            loop.end(ProcState.EXITED, ExitStatus.FAILED, "EIO: the loop stopped without an end", StepType.ERROR)


class Loop:
    """One process's agent loop; `steps()` is the generator `run` hands out."""

    def __init__(self, kernel, proc: Process, temperature: float, seed: int | None):
        self.k, self.proc, self.pid = kernel, proc, proc.pid
        self.temperature, self.seed = temperature, seed
        # The process's one budget, shared with every syscall it makes and charged up its tree.
        self.budget = kernel.budget(proc.pid)
        self.budget.start()
        self.spent, self.q = self.budget.spent, self.budget.quotas
        self._last_poll = 0.0

    def check(self) -> None:
        """Between tokens: a kill (its own or an ancestor's) raises Killed, a spent wall-time
        quota EDQUOT."""
        now = time.monotonic()
        if now - self._last_poll > 0.2:
            self._last_poll = now
            try:
                self.budget.check_kill()
            except SyscallError:
                raise Killed() from None
        if self.budget.left().seconds < 0:
            raise SyscallError(Errno.EDQUOT, f"wall-time quota of {self.q.seconds:g}s spent")

    def end(self, state: ProcState, status: int, reason: str, step_type: StepType, errno: str | None = None,
            reply: str | None = None) -> Step:
        self.budget.save()
        self.k.procs.finish(self.pid, state, status, reason, reply=reply)
        return Step(step_type, self.pid, self.spent.steps, status=int(status), reason=reason, errno=errno,
                    text=reply if step_type == StepType.REPLY else None)

    def stopped(self, exc: Exception) -> Step:
        """The end step for a kill (EINTR), a spent budget (EDQUOT) or any other errno failure."""
        if isinstance(exc, Killed):
            return self.end(ProcState.KILLED, ExitStatus.INTERRUPTED, "killed (EINTR)", StepType.EXIT, errno="EINTR")
        code = exc.code if isinstance(exc, SyscallError | DriverError) else Errno.EIO
        message = exc.message if isinstance(exc, SyscallError) else str(exc)
        if code == Errno.EDQUOT:
            return self.end(ProcState.EXITED, ExitStatus.QUOTA, f"EDQUOT: {message}", StepType.EXIT, errno="EDQUOT")
        return self.end(ProcState.EXITED, ExitStatus.FAILED, f"{code}: {message}", StepType.ERROR, errno=str(code))

    def observe(self, text: str) -> None:
        self.k.memory.append(self.pid, "user", response(text), kind="observation")

    def steps(self) -> Iterator[Step]:
        k, pid, procs, memory, spent, q = self.k, self.pid, self.k.procs, self.k.memory, self.spent, self.q
        procs.set_state(pid, ProcState.RUNNING)
        functions = model_functions(k, self.proc)
        tool_names = {f.name for f in functions} - set(TABLE)
        choice = self.proc.tool_choice or "auto"
        try:
            driver = k.driver(agent=True)  # the weights tuned for this protocol, on `default`
            grammars = {c: action_grammar(functions, c) for c in {choice, "auto", "none"}}
            first = grammars[choice]
            if choice == "auto" and functions and k.about(self.proc.task, [(f.name, f.description) for f in functions]):
                first = action_grammar(functions, "auto", decide=True)  # see relevance.py
        except (DriverError, SyscallError, ValueError, KeyError) as exc:
            yield self.stopped(exc if isinstance(exc, DriverError | SyscallError)
                               else SyscallError(Errno.EINVAL, f"cannot build this process's action grammar: {exc}"))
            return
        window_tokens = driver.n_ctx()
        # An action may take at most its share of the window (the grammar bounds every string
        # and array, but that bound in characters is far above a small window).
        action_tokens = max(64, int(window_tokens * ACTION_SHARE))
        system = system_prompt(functions, choice)
        if not memory.messages(pid):
            memory.append(pid, "user", self.proc.task, kind="task")
        previous, failures, must_answer, last_obs = None, {}, False, ""
        while True:
            # -- budgets and signals, between steps -------------------------------------------
            try:
                self.check()
                if procs.kill_requested(pid):
                    raise Killed()
            except (Killed, SyscallError) as exc:
                yield self.stopped(exc)
                return
            budget_left = self.budget.left()  # its own, or less where an ancestor has less
            if budget_left.steps <= 0:
                yield self.stopped(SyscallError(Errno.EDQUOT, f"step quota of {q.steps} spent"))
                return
            left = budget_left.tokens
            if left <= 0:
                yield self.stopped(SyscallError(Errno.EDQUOT, f"token quota of {q.tokens} spent"))
                return

            # -- decode one action under the grammar ------------------------------------------
            # tool_choice `required` or a named function holds for the first action; then auto.
            grammar = first if spent.steps == 0 else grammars["none" if must_answer else "auto"]
            try:
                window = memory.window(pid, system, window_tokens - action_tokens, lambda text: len(driver.tokenize(text)),
                                       check=self.check, agent=True)
                prompt = driver.tokenize(driver.format_chat(window), add_special=True, parse_special=True)
                sampling = Sampling(max_tokens=min(action_tokens, left), temperature=self.temperature, seed=self.seed,
                                    grammar=grammar, repeat_penalty=REPEAT_PENALTY)
                gen = k.generate(pid, prompt, sampling, check=self.check, agent=True)  # batched by the scheduler
            except (Killed, SyscallError, DriverError) as exc:
                yield self.stopped(exc)
                return
            self.budget.charge(steps=1, tokens=gen.tokens_out)  # charged up the tree, and saved
            memory.append(pid, "assistant", gen.text, kind="action", tokens=gen.tokens_out)  # committed before acting
            try:
                action = parse_action(gen.text)
            except ValueError:
                # The grammar admits only whole actions: this one was cut off by its length bound.
                if gen.tokens_out >= left:
                    yield self.stopped(SyscallError(Errno.EDQUOT, f"token quota of {q.tokens} spent mid-action"))
                    return
                obs = (f"EFBIG: your call was cut off at {gen.tokens_out} tokens; "
                       "make a shorter call (less text per argument)")
                self.observe(obs)
                yield Step(StepType.OBSERVATION, pid, spent.steps, ok=False, errno="EFBIG", message=obs)
                continue
            if not action.is_call:
                yield Step(StepType.ACTION, pid, spent.steps, call="reply", args={"text": action.text})
                if gen.finish_reason == "length" and gen.tokens_out >= left:
                    # The quota, not the model, ended this reply: say so; the partial reply is kept.
                    yield self.end(ProcState.EXITED, ExitStatus.QUOTA,
                                   f"EDQUOT: token quota of {q.tokens} spent mid-reply", StepType.EXIT,
                                   errno="EDQUOT", reply=action.text)
                    return
                yield self.end(ProcState.EXITED, ExitStatus.OK, "replied", StepType.REPLY, reply=action.text)
                return
            call, args = action.name, action.arguments
            yield Step(StepType.ACTION, pid, spent.steps, call=call, args=args)

            # -- act ---------------------------------------------------------------------------
            if (call, args) == previous:
                # Tiny models loop on one call (SmolLM2 repeated a calculator call until its step
                # quota was spent, whatever an error observation said, and copied that text into
                # its answer when made to answer). The call is not run again: the model reads
                # its result again, and its next action is an answer (the reply-only grammar).
                obs = "the same call again: not run twice; its result was given again and the next action is the answer"
                must_answer = True
                self.observe(last_obs)
                yield Step(StepType.OBSERVATION, pid, spent.steps, call=call, ok=False, errno=str(Errno.EAGAIN), message=obs)
                continue
            previous = (call, args)
            ctx = k.context(pid=pid, caps=self.proc.capset, workspace=self.proc.workspace)  # carries the budget
            name, raw = (("tool.call", {"name": call, "args": args}) if call in tool_names else (call, args))
            try:
                result = k.dispatcher.dispatch(ctx, name, raw).model_dump(mode="json")
                if name == "tool.call":
                    result = result["result"]
                obs_text = json.dumps(result, ensure_ascii=False)
                step = Step(StepType.OBSERVATION, pid, spent.steps, call=call, ok=True, result=result)
            except SyscallError as err:
                obs_text = f"{err.code}: {err.message}"
                step = Step(StepType.OBSERVATION, pid, spent.steps, call=call, ok=False, errno=str(err.code),
                            message=err.message)
                if err.code == Errno.EDQUOT:  # a budget (its own or an ancestor's) is spent
                    self.observe(obs_text)
                    yield step
                    why = f"write quota of {q.bytes} bytes spent" if "write quota" in err.message else err.message
                    yield self.stopped(SyscallError(Errno.EDQUOT, why))
                    return
                key = render_call(call, args)
                failures[key] = failures.get(key, 0) + 1
                if failures[key] >= REPEATS:
                    self.observe(obs_text)
                    yield step
                    yield self.stopped(SyscallError(Errno.EAGAIN, f"the model made the same failing call {REPEATS} "
                                                                  f"times ({call}: {err.code})"))
                    return
            if len(obs_text) > OBSERVATION_CHARS:
                obs_text = obs_text[:OBSERVATION_CHARS] + f"... ({len(obs_text) - OBSERVATION_CHARS} more characters)"
            self.observe(obs_text)
            last_obs = obs_text
            self.budget.save()
            yield step
            if self.budget.left().bytes <= 0:
                yield self.stopped(SyscallError(Errno.EDQUOT, f"write quota of {q.bytes} bytes spent"))
                return
