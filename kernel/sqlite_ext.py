"""Loading sqlite-vec (the memory manager's vector index) into the kernel's SQLite connections.

Some Python builds (this project's pyenv one among them) ship a `sqlite3` module without
`enable_load_extension`. There, sqlite-vec's entry point is registered with SQLite's own
`sqlite3_auto_extension` through ctypes, found through the `_sqlite3` module's handle so it
is the very SQLite library Python uses; every connection opened afterwards has vec0.
"""

from __future__ import annotations

import ctypes
import sqlite3
import threading

_lock = threading.Lock()
_registered = False


def _vec_path() -> str:
    import sqlite_vec

    return sqlite_vec.loadable_path()


def prepare() -> None:
    """Make sqlite-vec load into every connection opened from now on (call before connecting)."""
    global _registered
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return  # load() loads it into each connection the ordinary way
    with _lock:
        if _registered:
            return
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)  # dlsym through it finds the SQLite Python links
        ext = ctypes.CDLL(_vec_path() + ".so")
        lib.sqlite3_auto_extension.argtypes = [ctypes.c_void_p]
        if lib.sqlite3_auto_extension(ctypes.cast(ext.sqlite3_vec_init, ctypes.c_void_p)) != 0:
            raise sqlite3.OperationalError("cannot register sqlite-vec with SQLite")
        _registered = True


def load(conn: sqlite3.Connection) -> None:
    """Make sure `conn` has sqlite-vec's functions and vec0 tables; raise if it cannot."""
    if has_vec(conn):
        return
    if hasattr(conn, "enable_load_extension"):
        conn.enable_load_extension(True)
        try:
            conn.load_extension(_vec_path())
        finally:
            conn.enable_load_extension(False)
    if not has_vec(conn):
        raise sqlite3.OperationalError("sqlite-vec is not loaded; call sqlite_ext.prepare() before connecting")


def has_vec(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT vec_version()").fetchone()
        return True
    except sqlite3.OperationalError:
        return False
