"""The transformers driver (torch): `--model hf:default`, `hf:PATH.gguf`, `hf:DIR`, `+lora:NAME`."""

from .driver import SCHEME, HFDriver, load_model, resolve, split_spec

__all__ = ["SCHEME", "HFDriver", "load_model", "resolve", "split_spec"]
