"""The OpenAI-compatible driver: llama.cpp's server, vLLM, SGLang, Ollama over HTTP."""

from .driver import OpenAIDriver, parse_spec

__all__ = ["OpenAIDriver", "parse_spec"]
