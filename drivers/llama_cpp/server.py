"""`python -m llmos.drivers.llama_cpp.server ARGS`: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`, same flags) with the weight buffers this driver would choose.

On CPUs with AMX, llama.cpp's repacked weight buffers crash on multi-token decodes (lib.py:
extra_bufts). The high-level `Llama` that the server builds does not expose the setting, so
this launcher makes llama.cpp's default model parameters carry this driver's choice, then
runs the server. Tests and the acceptance check start it as a local engine for the
`openai:` driver (LLAMA_SERVER="python -m llmos.drivers.llama_cpp.server").
"""

from __future__ import annotations


def main() -> None:
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
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
