"""The memory manager: each process's conversation, committed to SQLite, paged through its window.

RAM is the context window, disk is SQLite. Every message is committed (WAL) before anything
acts on it: "acknowledged" means committed. The manager is three concerns in one object:
storage and plain records (base.py), the context pager (pager.py) and recall (recall.py).
"""

from .base import SOURCES, MemoryBase
from .pager import Pager
from .recall import Recall


class Memory(Pager, Recall, MemoryBase):
    pass


__all__ = ["SOURCES", "Memory"]
