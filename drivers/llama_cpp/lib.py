"""Loading llama.cpp (llama-cpp-python's low-level bindings) and checking model files."""

from __future__ import annotations

import os
from pathlib import Path

from ..base import DriverError
from ..errno import Errno

_L = None


def lib():
    """Import llama_cpp on first use (it is slow to import) and silence its logging."""
    global _L
    if _L is None:
        import logging

        import llama_cpp
        import llama_cpp._logger as llama_logger

        if not os.environ.get("LLMOS_DEBUG"):
            llama_logger.logger.setLevel(logging.CRITICAL + 1)
        llama_cpp.llama_backend_init()
        _L = llama_cpp
    return _L


def check_gguf(path: str | Path) -> Path:
    """Fail with one clear line if `path` is not a readable GGUF file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DriverError(Errno.ENOENT, f"model file not found: {p}; give a path to a .gguf file, or --model default")
    if p.is_dir():
        raise DriverError(Errno.EISDIR, f"model path is a directory: {p}; give the .gguf file inside it")
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise DriverError(Errno.EIO, f"cannot read model file {p}: {exc.strerror}") from None
    if magic != b"GGUF":
        raise DriverError(Errno.EINVAL, f"{p} is not a GGUF model file (bad header); check the path or re-download it")
    return p


def extra_bufts() -> bool:
    """Whether llama.cpp may repack weights into its extra CPU buffer types.

    Not where the build has AMX: ggml's AMX matmul segfaults on the first multi-token decode on
    some Sapphire Rapids hosts (llama.cpp issues #20824, PR #26954: tile permission is granted
    to the main thread only), as it did on this project's build machine. Without extra buffer
    types the weights stay in plain CPU memory and the AVX-512/AVX2 kernels run them.
    LLMOS_EXTRA_BUFTS=1 (or 0) forces the choice.
    """
    forced = os.environ.get("LLMOS_EXTRA_BUFTS")
    if forced in ("0", "1"):
        return forced == "1"
    return b"AMX_INT8 = 1" not in lib().llama_print_system_info()


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
