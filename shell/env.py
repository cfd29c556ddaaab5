"""What a command handler gets: the kernel (booted on first use), where to print, the REPL."""

from __future__ import annotations

from collections.abc import Callable

from .render import Out


class Env:
    def __init__(self, boot: Callable, out: Out, *, repl=None):
        self._boot = boot
        self._k = None
        self.out = out
        self.repl = repl  # the Repl when a command runs inside it, else None (the CLI)

    @property
    def k(self):
        """The kernel; booting it opens the data directory (the model loads on first use)."""
        if self._k is None:
            self._k = self._boot()
        return self._k

    @property
    def booted(self) -> bool:
        return self._k is not None

    def close(self) -> None:
        if self._k is not None:
            self._k.close()
            self._k = None
