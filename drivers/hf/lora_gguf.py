"""A peft LoRA adapter (Llama architecture) as a llama.cpp LoRA GGUF, with the `gguf` package.

What llama.cpp's convert_lora_to_gguf.py writes, for the one architecture llmos trains:
general.type = adapter, adapter.type = lora, adapter.lora.alpha; for each adapted matrix W of
layer N the tensors `blk.N.<name>.weight.lora_a` (A, rank x in) and `.lora_b` (B, out x rank),
llama.cpp adding (alpha / rank) * B A x to W x as peft does. One twist: llama.cpp's Llama GGUF
stores attn_q and attn_k with their rows permuted for its rotary layout (convert_hf_to_gguf's
`permute`; transformers undoes it when it loads a GGUF), so B of q_proj and k_proj, whose rows
are those outputs, is permuted the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..base import DriverError
from ..errno import Errno

NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
         "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$")


def permute(w, n_head: int):
    """convert_hf_to_gguf's LlamaModel.permute on the rows of `w` (a numpy array)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_adapter(state: dict, out: Path, *, alpha: float, n_head: int, n_head_kv: int, arch: str = "llama") -> int:
    """Write peft's adapter `state` (name -> tensor) to `out`; returns how many matrices it adapts."""
    import gguf
    import numpy as np

    pairs: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for key, t in state.items():
        m = _KEY.search(key)
        if not m:
            raise DriverError(Errno.EINVAL, f"unexpected tensor {key!r} in the adapter: only Llama attention and MLP "
                                            "projections can be exported to llama.cpp")
        layer, proj, which = int(m.group(1)), m.group(2), m.group(3)
        if proj not in NAMES:
            raise DriverError(Errno.EINVAL, f"the adapter targets {proj}, which llama.cpp's Llama has no name for")
        pairs.setdefault((layer, proj), {})[which] = t.detach().float().cpu().numpy()
    if not pairs:
        raise DriverError(Errno.EINVAL, "the adapter holds no LoRA tensors")
    w = gguf.GGUFWriter(str(out), arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for (layer, proj), ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise DriverError(Errno.EINVAL, f"layer {layer} {proj} has lora_{'A' if 'A' not in ab else 'B'} missing")
        a, b = ab["A"], ab["B"]
        if proj == "q_proj":
            b = permute(b, n_head)
        elif proj == "k_proj":
            b = permute(b, n_head_kv)
        name = f"blk.{layer}.{NAMES[proj]}.weight"
        w.add_tensor(name + ".lora_a", np.ascontiguousarray(a, dtype=np.float32))
        w.add_tensor(name + ".lora_b", np.ascontiguousarray(b, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return len(pairs)


def halve(src: Path, out: Path) -> None:
    """The adapter GGUF `src` with its tensors in float16 (half the size; what llama.cpp's own
    converter writes by default): how llmos ships its adapter."""
    import gguf
    import numpy as np

    r = gguf.GGUFReader(str(src))
    if r.get_field(gguf.Keys.Adapter.LORA_ALPHA) is None:
        raise DriverError(Errno.EINVAL, f"{src} is not a LoRA adapter GGUF")
    w = gguf.GGUFWriter(str(out), r.get_field(gguf.Keys.General.ARCHITECTURE).contents())
    for field in r.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub)
    for t in r.tensors:
        w.add_tensor(t.name, np.ascontiguousarray(t.data, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
