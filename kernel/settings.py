"""The kernel's settings: which model, how many slots of how much context, GPU layers.

Each comes from an argument, else the environment, else a default, and is checked (one
EINVAL line for a bad value). Commands may state a preference (`llmos batch` wants many small
slots) that applies only where the user chose nothing and the model is not loaded yet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..syscalls.errno import Errno, SyscallError

DEFAULT_SLOTS = 4  # sequence slots: processes decoding at once
DEFAULT_SLOT_CTX = 4096  # tokens of KV each slot holds: a process's context window


def setting(what: str, value: int | None, env: str, default: int | None, lo: int, hi: int) -> int | None:
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


@dataclass
class Settings:
    model: str = "default"
    gpu_layers: int = 0
    slots: int = DEFAULT_SLOTS
    slot_ctx: int = DEFAULT_SLOT_CTX
    chosen: set[str] = field(default_factory=set)  # which of slots/slot_ctx the user chose
    api_key: str | None = field(default=None, repr=False)  # for an engine behind a key (openai:)
    # on `default`, the weights processes' action loops decode with (LLMOS_AGENT_MODEL; `default`:
    # the plain model); None: ModelStore.agent_spec, llmos's adapter folded in
    agent_model: str | None = None

    @classmethod
    def resolve(cls, *, model: str | None = None, gpu_layers: int | None = None, slots: int | None = None,
                slot_ctx: int | None = None, api_key: str | None = None) -> Settings:
        s = cls(model=model or os.environ.get("LLMOS_MODEL") or "default",
                gpu_layers=setting("gpu_layers", gpu_layers, "LLMOS_GPU_LAYERS", 0, 0, 1000),
                api_key=api_key or os.environ.get("OPENAI_API_KEY") or None,
                agent_model=os.environ.get("LLMOS_AGENT_MODEL") or None)
        for attr, what, value, env, lo, hi in (("slots", "slots", slots, "LLMOS_SLOTS", 1, 64),
                                                ("slot_ctx", "context", slot_ctx, "LLMOS_CTX", 256, 1 << 20)):
            chosen = setting(what, value, env, None, lo, hi)
            if chosen is not None:
                setattr(s, attr, chosen)
                s.chosen.add(attr)
        return s

    def prefer(self, *, slots: int, slot_ctx: int) -> None:
        """A command's preferred size, taken where the user did not choose one."""
        if "slots" not in self.chosen:
            self.slots = slots
        if "slot_ctx" not in self.chosen:
            self.slot_ctx = slot_ctx
