"""Model files: bundled specs resolve, checksums are checked once, bad files fail clearly."""

from __future__ import annotations

import pytest
from llmos.drivers.base import DriverError
from llmos.drivers.llama_cpp import LlamaCppDriver, check_gguf
from llmos.drivers.models import ModelStore


def test_default_model_is_found_and_verified_once(tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    path = store.resolve("default")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.exists()
    import llmos.drivers.models as models

    def no_hashing(*a, **kw):
        raise AssertionError("re-hashed a verified file")

    monkeypatch.setattr(models, "sha256_file", no_hashing)
    assert store.resolve("default") == path  # remembered by size and mtime


@pytest.mark.parametrize(
    "content,code",
    [(None, "ENOENT"), (b"", "EINVAL"), (b"PK\x03\x04 zip, not gguf", "EINVAL")],
)
def test_bad_model_files_fail_with_one_line(tmp_path, content, code):
    p = tmp_path / "m.gguf"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(DriverError) as info:
        check_gguf(p)
    assert info.value.code == code and "\n" not in str(info.value)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(DriverError) as info:
        check_gguf(tmp_path)
    assert info.value.code == "EISDIR"


@pytest.mark.real
def test_truncated_gguf_fails_to_load_cleanly(tmp_path, model_store):
    src = model_store.resolve("default")
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(src.read_bytes()[: 4 << 20])
    with pytest.raises(DriverError) as info:
        LlamaCppDriver(bad)
    assert info.value.code == "EIO" and "corrupt" in str(info.value)


@pytest.mark.real
def test_gemma_is_assembled_verified_and_repaired(tmp_path):
    store = ModelStore(tmp_path / "models")
    seen = []
    path = store.resolve("gemma-3-270m", progress=lambda done, total, what: seen.append(what))
    assert path.exists() and path.stat().st_size > 200_000_000
    assert "assembling gemma-3-270m" in seen
    seen.clear()
    assert store.resolve("gemma-3-270m", progress=lambda *a: seen.append(a)) == path
    assert seen == []  # already verified: neither assembled nor re-hashed
    with path.open("r+b") as f:  # truncate it: the next use re-assembles instead of loading it
        f.truncate(1000)
    store.resolve("gemma-3-270m", progress=lambda done, total, what: seen.append(what))
    assert path.stat().st_size > 200_000_000 and "assembling gemma-3-270m" in seen
