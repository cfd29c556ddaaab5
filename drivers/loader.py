"""Open a driver for a model spec (see models.py for what specs mean)."""

from __future__ import annotations

from .base import Driver
from .models import ModelStore, Progress


def open_driver(
    spec: str,
    models: ModelStore,
    *,
    gpu_layers: int = 0,
    n_ctx: int = 4096,  # per slot: what one process sees
    n_seq: int = 4,
    progress: Progress | None = None,
) -> Driver:
    path = models.resolve(spec, progress)
    from .llama_cpp import LlamaCppDriver  # imports llama_cpp: keep it off the fast paths

    return LlamaCppDriver(path, spec=spec, n_gpu_layers=gpu_layers, n_ctx=n_ctx, n_seq=n_seq)
