"""`python -m llmos.drivers.llama_cpp.server ARGS`: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`, same flags) with the weight buffers this driver would choose.

On CPUs with AMX, llama.cpp's repacked weight buffers crash on multi-token decodes (lib.py:
extra_bufts). The high-level `Llama` that the server builds does not expose the setting, so
this launcher makes llama.cpp's default model parameters carry this driver's choice, then
runs the server. Unless told otherwise it also keeps this driver's 8-bit KV cache and flash
attention (which a quantized V cache needs), so the engine decodes the same floats as the
in-process driver: greedy text over HTTP equals greedy text in process. Tests and the acceptance check start it as a local engine for the
`openai:` driver (LLAMA_SERVER="python -m llmos.drivers.llama_cpp.server").
"""

from __future__ import annotations

from .driver import KV_TYPES

# This driver's default context settings, as llama_cpp.server flags.
SAME_AS_DRIVER = {"--type_k": str(KV_TYPES["q8_0"]), "--type_v": str(KV_TYPES["q8_0"]), "--flash_attn": "true"}


def main() -> None:
    import sys

    import llama_cpp.llama_cpp as C

    from .lib import extra_bufts, lib

    lib()  # loads the library quietly, so extra_bufts() can ask it about the CPU
    keep = extra_bufts()
    default = C.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = keep
        return p

    C.llama_model_default_params = params
    given = {a.split("=")[0] for a in sys.argv[1:]}
    for flag, value in SAME_AS_DRIVER.items():
        if flag not in given:
            sys.argv += [flag, value]
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
