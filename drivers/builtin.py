"""The built-in drivers, registered as a plugin (entry point `llmos` -> this module) like any other."""

from __future__ import annotations

import re

from .plugins import hookimpl

_SCHEME = re.compile(r"^[a-z][a-z0-9+-]*:")  # openai:..., hf:... (a path or bundled name has none)


def _gguf(spec: str) -> bool:
    """llama.cpp takes the bundled names and paths: every spec without a driver scheme."""
    return not _SCHEME.match(spec.partition("+lora:")[0])


def _open_llama_cpp(spec: str, models, *, gpu_layers: int = 0, n_ctx: int = 4096, n_seq: int = 4,
                    progress=None, **_):
    # On the default model an adapter comes folded into the weights (decodes as fast as the
    # base); on any other base llama.cpp applies it at run time.
    path, adapter = models.weights(spec, progress)
    from .llama_cpp import LlamaCppDriver  # imports llama_cpp: keep it off the fast paths

    return LlamaCppDriver(path, spec=spec, n_gpu_layers=gpu_layers, n_ctx=n_ctx, n_seq=n_seq, lora=adapter)


def _hf(spec: str) -> bool:
    return spec.startswith("hf:")


def _open_hf(spec: str, models, *, n_ctx: int = 4096, n_seq: int = 4, progress=None, **_):
    from .hf import HFDriver, resolve, split_spec  # imports torch: keep it off the fast paths

    base, lora = split_spec(spec)
    adapter = models.adapter_dir(lora) if lora else None
    return HFDriver(resolve(base, models), spec=spec, n_ctx=n_ctx, n_seq=n_seq, adapter=adapter)


def _openai(spec: str) -> bool:
    return spec.startswith("openai:")


def _open_openai(spec: str, models, *, n_ctx: int = 4096, n_seq: int = 4, api_key: str | None = None, **_):
    from .openai import OpenAIDriver  # imports httpx: keep it off the fast paths

    return OpenAIDriver(spec, api_key=api_key, n_seq=n_seq, n_ctx=n_ctx)


@hookimpl
def register_drivers(register):
    register("llama.cpp", _gguf, _open_llama_cpp)
    register("openai", _openai, _open_openai)
    register("transformers", _hf, _open_hf)
