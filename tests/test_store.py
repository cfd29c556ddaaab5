from __future__ import annotations

from llmos.kernel.store import MIGRATIONS, Store


def test_migrations_apply_once_and_wal(tmp_path):
    s = Store(tmp_path / "a.db")
    names = {r["name"] for r in s.db["_migrations"].rows}
    assert names == {m.__name__ for m in MIGRATIONS}
    assert s.migrate() == []
    s.close()
    s = Store(tmp_path / "a.db")
    assert s.migrate() == []
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.integrity() == "ok"
    s.close()


def test_corrupt_database_is_one_clear_error(tmp_path, monkeypatch):
    import pytest
    from llmos.kernel import Kernel
    from llmos.syscalls.errno import Errno, SyscallError

    home = tmp_path / "h"
    home.mkdir()
    (home / "llmos.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SyscallError) as info:
        Kernel.boot(home)
    assert info.value.code == Errno.EIO and "move it aside" in info.value.message


def test_kernels_booting_a_fresh_database_at_once_migrate_it_once(tmp_path):
    import subprocess
    import sys

    code = "import sys; from llmos.kernel.store import Store; Store(__import__('pathlib').Path(sys.argv[1])).close()"
    db = tmp_path / "race.db"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    s = Store(db)
    names = [r["name"] for r in s.db["_migrations"].rows]
    assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS) and len(names) == len(set(names))
    assert s.integrity() == "ok"
    s.close()
