"""Shared bench helpers: argument parsing, timing, JSON/ratio printing."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable as `python bench/x.py`


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default="default", help="default, gemma-3-270m or a .gguf path")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return p


def models_dir() -> Path:
    """Bundled models are prepared once into bench/.cache (Gemma is assembled there)."""
    d = Path(__file__).resolve().parent / ".cache" / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def temp_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="llmos-bench-"))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def report(result: dict, as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        print("\n".join(lines))


def same_weights(make):
    """Build a llama_cpp.Llama that places its weights as llmos's driver does (see
    drivers/llama_cpp/lib.py:extra_bufts), so both sides run the same matmul kernels and the
    high-level class, which does not expose that setting, survives multi-token decodes on AMX hosts."""
    import llama_cpp.llama_cpp as raw
    from llmos.drivers.llama_cpp import extra_bufts

    default = raw.llama_model_default_params

    def params():
        mp = default()
        mp.use_extra_bufts = extra_bufts()
        return mp

    raw.llama_model_default_params = params
    try:
        return make()
    finally:
        raw.llama_model_default_params = default
