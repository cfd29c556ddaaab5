"""Convert a GGUF's weights to another quantization with llama.cpp (llama_model_quantize).

Used by models.py to make the default model's served copy from the packaged file. Weights
already quantized are re-quantized (allow_requantize); for SmolLM2-135M that takes under a
second and gives the same bytes every time from the same llama.cpp.
"""

from __future__ import annotations

from pathlib import Path

from .base import DriverError

# llama_ftype values (llama.h) of the formats a model may be converted to.
FTYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "f16": 1}  # f16: the same weights unquantized (parity tests)


def quantize(src: Path, dst: Path, fmt: str, threads: int = 0) -> None:
    """Write `src`'s weights as `fmt` to `dst`; one clear DriverError if llama.cpp refuses."""
    if fmt not in FTYPES:
        raise DriverError("EINVAL", f"unknown weight format {fmt!r}; use one of {', '.join(FTYPES)}")
    from .llama_cpp import lib  # the same import, logging and backend set-up as the driver

    L = lib()
    params = L.llama_model_quantize_default_params()
    params.ftype = FTYPES[fmt]
    params.allow_requantize = True
    params.nthread = threads  # 0: one per hardware thread
    if L.llama_model_quantize(str(src).encode(), str(dst).encode(), params) != 0:
        raise DriverError("EIO", f"llama.cpp could not convert {src.name} to {fmt.upper()}; "
                                 "check the source file and the free space in the models folder")
