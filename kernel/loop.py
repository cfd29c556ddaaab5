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

from pydantic import ValidationError

from ..drivers.base import DriverError, Sampling
from ..syscalls.errno import Errno, SyscallError
from ..syscalls.grammar import ExitArgs, ReplyArgs, gbnf, max_action_chars, parse_action
from ..syscalls.table import TABLE
from .process import ENDED, Process
from .prompt import system_prompt

# A repeat penalty on actions hurts: it pushes the model off the JSON it must repeat (quotes,
# keys). Measured on 14 suite tasks: 1/14 sensible ends with 1.15, 3/14 without.
REPEAT_PENALTY = 1.0

OBSERVATION_CHARS = 1500  # what the model sees of a result
# Not offered to the model by default even when granted: it is the model (llm.*), and the
# table itself is long (sys.syscalls); code apps may still call them.
NOT_FOR_THE_MODEL = ("llm.", "sys.syscalls")


@dataclass
class Step:
    type: str  # action | observation | reply | exit | error
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


def model_calls(proc: Process) -> list:
    names = proc.capset.names_allowed(sorted(TABLE))
    return [TABLE[n] for n in names if not n.startswith(NOT_FOR_THE_MODEL)]


class Killed(Exception):
    pass


def run(kernel, pid: int, *, temperature: float = 0.0, seed: int | None = None) -> Iterator[Step]:
    """Run process `pid` to its end, yielding each step as it happens."""
    procs, memory = kernel.procs, kernel.memory
    proc = procs.get(pid)
    if proc.state in ENDED:
        yield Step("error", pid, proc.spent.steps, errno="EINVAL", message=f"process {pid} has already ended")
        return
    spent = proc.spent
    q = proc.quotas
    procs.set_state(pid, "running")
    t0 = time.monotonic() - spent.seconds
    specs = model_calls(proc)
    try:
        driver = kernel.driver()
    except DriverError as exc:
        procs.finish(pid, "exited", 1, f"{exc.code}: {exc}")
        yield Step("error", pid, 0, errno=exc.code, message=str(exc))
        return
    grammar = gbnf(specs, proc.capset)
    # Every token is at least one character, so an action never needs more tokens than the
    # grammar's longest sentence has characters: no action is cut off except by the quota.
    action_tokens = max_action_chars(specs, proc.capset) + 1
    from ..syscalls.tool import TOOLS

    tools = [(t.name, t.doc) for t in TOOLS.values() if proc.capset.allows("tool.call", t.name)]
    system = system_prompt(specs, tools)
    if not memory.messages(pid):
        memory.append(pid, "user", f"Task: {proc.task}", kind="task")
    last_poll = [0.0]
    previous = None

    def check() -> None:
        now = time.monotonic()
        if now - last_poll[0] > 0.2:
            last_poll[0] = now
            if procs.kill_requested(pid):
                raise Killed()
        if now - t0 > q.seconds:
            raise SyscallError(Errno.EDQUOT, f"wall-time quota of {q.seconds:g}s spent")

    def end(state: str, status: int, reason: str, step_type: str, errno: str | None = None,
            reply: str | None = None) -> Step:
        spent.seconds = round(time.monotonic() - t0, 3)
        procs.save_spent(pid, spent)
        procs.finish(pid, state, status, reason, reply=reply)
        return Step(step_type, pid, spent.steps, status=status, reason=reason, errno=errno,
                    text=reply if step_type == "reply" else None)

    def stopped(exc: Exception) -> Step:
        """The end step for a kill (EINTR), a spent budget (EDQUOT) or a driver failure."""
        if isinstance(exc, Killed):
            return end("killed", 128 + 2, "killed (EINTR)", "exit", errno="EINTR")
        if isinstance(exc, SyscallError):
            return end("exited", 122, f"EDQUOT: {exc.message}", "exit", errno="EDQUOT")
        return end("exited", 1, f"{exc.code}: {exc}", "error", errno=exc.code)

    while True:
        # -- budgets and signals, between steps -------------------------------------------
        try:
            check()
            if procs.kill_requested(pid):
                raise Killed()
        except (Killed, SyscallError) as exc:
            yield stopped(exc)
            return
        if spent.steps >= q.steps:
            yield end("exited", 122, f"EDQUOT: step quota of {q.steps} spent", "exit", errno="EDQUOT")
            return
        left = q.tokens - spent.tokens
        if left <= 0:
            yield end("exited", 122, f"EDQUOT: token quota of {q.tokens} spent", "exit", errno="EDQUOT")
            return

        # -- decode one action under the grammar ------------------------------------------
        budget = driver.n_ctx() - action_tokens
        window = memory.window(pid, system, budget, lambda text: len(driver.tokenize(text)))
        prompt = driver.tokenize(driver.format_chat(window), add_special=True, parse_special=True)
        sampling = Sampling(max_tokens=min(action_tokens, left), temperature=temperature, seed=seed, grammar=grammar,
                            repeat_penalty=REPEAT_PENALTY)
        try:
            gen = kernel.generate(pid, prompt, sampling, check=check)  # batched while the scheduler runs
        except (Killed, SyscallError, DriverError) as exc:
            yield stopped(exc)
            return
        spent.steps += 1
        spent.tokens += gen.tokens_out
        spent.seconds = round(time.monotonic() - t0, 3)
        memory.append(pid, "assistant", gen.text, kind="action", tokens=gen.tokens_out)  # committed before acting
        procs.save_spent(pid, spent)
        try:
            call, args = parse_action(gen.text)
        except ValueError:
            # The grammar admits only whole actions, and action_tokens fits the longest one:
            # an unparsable action was cut off by the token quota.
            yield end("exited", 122, f"EDQUOT: token quota of {q.tokens} spent mid-action", "exit", errno="EDQUOT")
            return
        yield Step("action", pid, spent.steps, call=call, args=args)

        # -- act ---------------------------------------------------------------------------
        if call in ("reply", "exit"):
            try:
                a = (ReplyArgs if call == "reply" else ExitArgs).model_validate(args)
            except ValidationError as exc:
                obs = f"EINVAL: bad {call}: {exc.errors()[0]['msg']}"
                memory.append(pid, "user", f"Observation: {obs}", kind="observation")
                yield Step("observation", pid, spent.steps, call=call, ok=False, errno="EINVAL", message=obs)
                continue
            if call == "reply":
                yield end("exited", 0, "replied", "reply", reply=a.text)
            else:
                yield end("exited", a.status, a.reason or "exited", "exit")
            return
        if (call, args) == previous:
            # Tiny models loop on one call; repeating it cannot help, so say so instead.
            obs = ("you just made exactly this call and its result is above; do not repeat it: "
                   "reply with what you know, or make a different call")
            memory.append(pid, "user", f"Observation: EAGAIN: {obs}", kind="observation")
            yield Step("observation", pid, spent.steps, call=call, ok=False, errno="EAGAIN", message=obs)
            continue
        previous = (call, args)
        ctx = kernel.context(pid=pid, caps=proc.capset, workspace=proc.workspace)
        ctx.bytes_left = q.bytes - spent.bytes
        try:
            result = kernel.dispatcher.dispatch(ctx, call, args).model_dump(mode="json")
            obs_text = json.dumps(result, ensure_ascii=False)
            step = Step("observation", pid, spent.steps, call=call, ok=True, result=result)
        except SyscallError as err:
            obs_text = f"{err.code}: {err.message}"
            step = Step("observation", pid, spent.steps, call=call, ok=False, errno=str(err.code), message=err.message)
            if err.code == Errno.EDQUOT:
                memory.append(pid, "user", f"Observation: {obs_text}", kind="observation")
                yield step
                yield end("exited", 122, f"EDQUOT: write quota of {q.bytes} bytes spent", "exit", errno="EDQUOT")
                return
        spent.bytes += ctx.usage.bytes_written
        if len(obs_text) > OBSERVATION_CHARS:
            obs_text = obs_text[:OBSERVATION_CHARS] + f"... ({len(obs_text) - OBSERVATION_CHARS} more characters)"
        memory.append(pid, "user", f"Observation: {obs_text}", kind="observation")
        procs.save_spent(pid, spent)
        yield step
        if spent.bytes >= q.bytes:
            yield end("exited", 122, f"EDQUOT: write quota of {q.bytes} bytes spent", "exit", errno="EDQUOT")
            return
