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


def merge_lora(base: Path, adapter: Path, out: Path, fmt: str) -> int:
    """Write `base` with a LoRA `adapter` (a llama.cpp LoRA GGUF) added into its weights, as `fmt`.

    llama.cpp applying an adapter at run time adds two small matmuls to every adapted matrix, 210
    more graph nodes for SmolLM2-135M: ~40% of its decode speed on a CPU. Folded into the weights
    (W + alpha/rank * B A, as peft's merge_and_unload does) the tuned model is the base model's
    graph with other numbers, so it decodes as fast. The adapted matrices are dequantized and
    merged in float32 (gguf's numpy codecs), the rest copied as they are, and llama.cpp then
    quantizes the whole file to `fmt` exactly as it makes the base model's own copy. Returns how
    many matrices it merged."""
    import gguf
    import numpy as np

    ar = gguf.GGUFReader(str(adapter))
    alpha_field = ar.get_field(gguf.Keys.Adapter.LORA_ALPHA)
    if alpha_field is None:
        raise DriverError("EINVAL", f"{adapter} is not a LoRA adapter GGUF (no {gguf.Keys.Adapter.LORA_ALPHA})")
    alpha = float(alpha_field.contents())
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for t in ar.tensors:
        name, _, which = t.name.rpartition(".lora_")
        pairs.setdefault(name, {})[which] = np.asarray(t.data, dtype=np.float32)  # a: rank x in, b: out x rank
    br = gguf.GGUFReader(str(base))
    arch = br.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    tmp = out.with_name(out.name + ".f32.partial")
    w = gguf.GGUFWriter(str(tmp), arch)
    for field in br.fields.values():  # every key but the ones the writer writes itself
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub)
    merged = 0
    for t in br.tensors:
        ab = pairs.pop(t.name, None)
        if ab is None:
            w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
            continue
        weight = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)  # out x in
        delta = (alpha / ab["a"].shape[0]) * (ab["b"] @ ab["a"])
        if delta.shape != weight.shape:
            raise DriverError("EINVAL", f"the adapter's {t.name} is {delta.shape}, the model's {weight.shape}: "
                                        "it was trained on another base")
        w.add_tensor(t.name, weight + delta)
        merged += 1
    if pairs:
        raise DriverError("EINVAL", f"the adapter adapts {sorted(pairs)[0]}, which {base.name} does not have")
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        quantize(tmp, out, fmt)
    finally:
        tmp.unlink(missing_ok=True)
    return merged
