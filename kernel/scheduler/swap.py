"""KV images of swapped-out slots: in RAM up to a budget, the oldest spilled to files past it."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Image:
    """A swapped-out slot: the tokens its KV held and the KV bytes, in RAM or in a file."""

    tokens: list[int]
    nbytes: int
    data: bytes | None = None
    path: Path | None = None
    stored: float = field(default_factory=time.monotonic)

    @property
    def where(self) -> str:
        return "ram" if self.data is not None else "disk"

    def load(self) -> bytes | bytearray:
        if self.data is not None:
            return self.data
        buf = bytearray(self.nbytes)
        with open(self.path, "rb") as f:
            f.readinto(buf)
        return buf


class SwapStore:
    """KV images by key: in RAM up to `ram_budget` bytes, the oldest spilled to files past it."""

    def __init__(self, folder: Path, ram_budget: int):
        self.folder = folder
        self.ram_budget = ram_budget
        self.images: dict[Hashable, Image] = {}
        self._names = itertools.count(1)

    @property
    def ram_bytes(self) -> int:
        return sum(i.nbytes for i in self.images.values() if i.data is not None)

    @property
    def disk_bytes(self) -> int:
        return sum(i.nbytes for i in self.images.values() if i.data is None)

    def put(self, key: Hashable, tokens: list[int], data: bytes) -> Image:
        self.drop(key)
        img = self.images[key] = Image(list(tokens), len(data), data=data)
        self._spill()
        return img

    def get(self, key: Hashable) -> Image | None:
        return self.images.get(key)

    def drop(self, key: Hashable) -> None:
        img = self.images.pop(key, None)
        if img is not None and img.path is not None:
            img.path.unlink(missing_ok=True)

    def keys(self) -> list[Hashable]:
        return list(self.images)

    def _spill(self) -> None:
        ram = self.ram_bytes
        for img in sorted((i for i in self.images.values() if i.data is not None), key=lambda i: i.stored):
            if ram <= self.ram_budget:
                break
            self.folder.mkdir(parents=True, exist_ok=True)
            img.path = self.folder / f"{os.getpid()}-{id(self)}-{next(self._names)}.kv"
            img.path.write_bytes(img.data)
            img.data = None
            ram -= img.nbytes

    def clear(self) -> None:
        for key in list(self.images):
            self.drop(key)
