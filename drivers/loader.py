"""Open a driver for a model spec: the first registered driver (plugins.py) that takes it."""

from __future__ import annotations

from .base import Driver, DriverError
from .errno import Errno
from .models import ModelStore, Progress
from .plugins import collect


def drivers() -> list[tuple[str, object, object]]:
    """(name, matches, opener) of every registered driver."""
    return collect("register_drivers")


def open_driver(
    spec: str,
    models: ModelStore,
    *,
    gpu_layers: int = 0,
    n_ctx: int = 4096,  # per slot: what one process sees
    n_seq: int = 4,
    progress: Progress | None = None,
    api_key: str | None = None,  # for engines behind a key (openai:)
) -> Driver:
    for _name, matches, opener in drivers():
        if matches(spec):
            return opener(spec, models, gpu_layers=gpu_layers, n_ctx=n_ctx, n_seq=n_seq, progress=progress,
                          api_key=api_key)
    schemes = ", ".join(name for name, _, _ in drivers())
    raise DriverError(Errno.EINVAL, f"no driver takes model spec {spec!r} (drivers: {schemes}); "
                                    "use default, gemma-3-270m, a path to a .gguf, "
                                    "or openai:http://HOST:PORT/v1")
