"""The scheduler: many processes on one model (core.py), its policy, KV swap store and stats."""

from .core import Request, Scheduler
from .policy import BATCH, INTERACTIVE, NORMAL, priority_name
from .stats import read_stats
from .swap import Image, SwapStore

__all__ = ["BATCH", "INTERACTIVE", "NORMAL", "Image", "Request", "Scheduler", "SwapStore", "priority_name",
           "read_stats"]
