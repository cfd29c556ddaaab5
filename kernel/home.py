"""The data directory: $LLMOS_HOME, else the platform's user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        root = Path(explicit)
    elif os.environ.get("LLMOS_HOME"):
        root = Path(os.environ["LLMOS_HOME"])
    else:
        from platformdirs import user_data_dir

        root = Path(user_data_dir("llmos", appauthor=False))
    root = root.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()
