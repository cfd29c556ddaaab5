"""The llama.cpp driver (llama-cpp-python's low-level API): library, sampler, driver."""

from ..engine import DecodeThread, KVFull, Seq, decode_thread
from .driver import KV_TYPES, LlamaCppDriver
from .lib import check_gguf, cpu_threads, extra_bufts, lib
from .sampler import Sampler

__all__ = ["KV_TYPES", "DecodeThread", "KVFull", "LlamaCppDriver", "Sampler", "Seq", "check_gguf",
           "cpu_threads", "decode_thread", "extra_bufts", "lib"]
