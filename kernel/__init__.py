"""The kernel: boot, storage, the driver, call contexts. `Kernel.boot()` is the entry point."""

from .kernel import Kernel

__all__ = ["Kernel"]
