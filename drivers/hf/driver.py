"""The transformers driver: a causal LM in torch (CPU, or CUDA when present) on the shared step engine.

`hf:default` is the bundled default model read from its GGUF by transformers (dequantized to
float32), `hf:PATH.gguf` any GGUF transformers can read, `hf:DIR` a Hugging Face model folder.
`+lora:NAME` after any of them applies an adapter trained by `llmos learn train` (peft).

Each slot holds a DynamicCache (its KV); a step runs each planned sequence's tokens through
the model against its slot's cache. Sequences are not stacked into one forward: their caches
have different lengths, and on a CPU a 135M model's step is bound by the weights it reads per
sequence anyway; stacking is where a GPU would pay, and is left for then.
Sampling (greedy, temperature, top-k, top-p, seed, repeat penalty) is done here on the logits;
the action grammar (GBNF from the kernel) masks them through llguidance (grammar.py).
Saving a slot serializes its cache tensors (torch.save); restoring loads them back.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from ..base import DriverError, ModelInfo, Sampling
from ..engine import KVFull, Seq, SlotEngine
from ..errno import Errno

SCHEME = "hf:"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level BPE alphabet: each byte as the printable character that stands for it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


_UNBYTE = {c: b for b, c in _bytes_to_unicode().items()}


def split_spec(spec: str) -> tuple[str, str | None]:
    """'hf:default+lora:NAME' -> ('default', 'NAME'); without an adapter the second is None."""
    body = spec[len(SCHEME):] if spec.startswith(SCHEME) else spec
    base, sep, lora = body.partition("+lora:")
    return base, (lora if sep else None)


def load_model(where: Path, *, dtype=None, device: str = "cpu"):
    """(tokenizer, model) from a GGUF file (dequantized) or a Hugging Face folder, offline."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    kw = {"gguf_file": where.name} if where.is_file() else {}
    root = str(where.parent if where.is_file() else where)
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    if not isinstance(gguf_utils.tqdm, functools.partial):  # the GGUF reader's own progress bar: off
        gguf_utils.tqdm = functools.partial(gguf_utils.tqdm, disable=True)
    try:
        tok = AutoTokenizer.from_pretrained(root, local_files_only=True, **kw)
        model = AutoModelForCausalLM.from_pretrained(root, local_files_only=True, dtype=dtype or torch.float32, **kw)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise DriverError(Errno.EIO, f"transformers could not load {where}: {str(exc).splitlines()[0][:200]}; "
                                     "give a Hugging Face model folder or a GGUF of a supported architecture") from None
    return tok, model.to(device).eval()


def cache_kw(model) -> str:
    """The forward argument that takes the KV cache (`cache` in transformers 5, before `past_key_values`)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def resolve(base: str, models) -> Path:
    """The file or folder an hf: spec's base names (bundled names through the ModelStore)."""
    p = Path(base).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists():
            raise DriverError(Errno.ENOENT, f"{p} is not a Hugging Face model folder (no config.json)")
        return p
    if p.suffix == ".gguf" or p.exists():
        from ..llama_cpp.lib import check_gguf

        return check_gguf(p)
    return models.resolve(base)


class _Sampler:
    """One sequence's sampler over the driver's logits rows: grammar mask, penalty, then pick."""

    def __init__(self, driver: HFDriver, s: Sampling):
        import torch

        self.d, self.s, self.torch = driver, s, torch
        self.recent: list[int] = []
        self.gen = None
        if s.temperature > 0:
            self.gen = torch.Generator()
            if s.seed is not None:
                self.gen.manual_seed(s.seed)
            else:
                self.gen.seed()
        self.matcher = driver.matcher(s.grammar) if s.grammar else None

    def sample(self, row: int) -> int:
        torch, s = self.torch, self.s
        logits = self.d.rows[row].float().clone()
        if s.repeat_penalty != 1.0 and self.recent:  # as llama.cpp's penalties sampler
            ids = torch.tensor(sorted(set(self.recent[-64:])))
            got = logits[ids]
            logits[ids] = torch.where(got > 0, got / s.repeat_penalty, got * s.repeat_penalty)
        if self.matcher is not None:
            self.matcher.mask(logits, self.d.bitmask)
        if s.temperature <= 0:
            tok = int(torch.argmax(logits))
        else:
            logits = logits / s.temperature
            if s.top_k > 0:
                k = min(s.top_k, logits.numel())
                kth = torch.topk(logits, k).values[-1]
                logits[logits < kth] = float("-inf")
            probs = torch.softmax(logits, -1)
            if s.top_p < 1.0:
                sp, si = torch.sort(probs, descending=True)
                cut = torch.cumsum(sp, -1) - sp > s.top_p
                sp[cut] = 0
                probs = torch.zeros_like(probs).scatter_(0, si, sp)
            tok = int(torch.multinomial(probs, 1, generator=self.gen))
        if not torch.isfinite(logits[tok]):
            raise DriverError(Errno.EIO, "the grammar allows no token here")
        if self.matcher is not None and not self.d.is_eog(tok):
            self.matcher.accept(tok)
        self.recent.append(tok)
        return tok

    def free(self) -> None:
        self.matcher = None


class HFDriver(SlotEngine):
    def __init__(self, where: str | Path, *, spec: str | None = None, n_ctx: int = 4096, n_seq: int = 4,
                 adapter: Path | None = None, device: str | None = None, n_batch: int = 512):
        import torch

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        where = Path(where)
        self.tok, self.model = load_model(where, device=self.device)
        self._cache_kw = cache_kw(self.model)
        if adapter is not None:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, str(adapter)).eval()
        cfg = self.model.config
        self.n_seq, self.n_batch = n_seq, n_batch
        self.caches: list = [None] * n_seq
        self.rows: list = []
        self._init_slots()
        n_train = int(getattr(cfg, "max_position_embeddings", n_ctx) or n_ctx)
        self._eog = {t for t in (self.tok.eos_token_id, getattr(cfg, "eos_token_id", None)) if isinstance(t, int)}
        for name in ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<eos>"):
            tid = self.tok.convert_tokens_to_ids(name)
            if isinstance(tid, int) and tid != self.tok.unk_token_id and tid is not None:
                self._eog.add(tid)
        self._ll = None
        self.bitmask = None
        self._pieces: dict[int, bytes] = {}
        self._special = set(self.tok.all_special_ids) | set(getattr(self.tok, "added_tokens_decoder", {}) or {})
        tmpl = self.tok.chat_template or ""
        fmt = "chatml" if "<|im_start|>" in tmpl else "gemma" if "<start_of_turn>" in tmpl else "embedded"
        size = where.stat().st_size if where.is_file() else sum(f.stat().st_size for f in where.glob("*.safetensors"))
        self.info = ModelInfo(
            spec=spec or f"{SCHEME}{where}", path=str(where), size_bytes=size, n_ctx=min(n_ctx, n_train),
            n_ctx_train=n_train, n_vocab=len(self.tok), chat_format=fmt,
            description=f"{cfg.model_type} (transformers, {self.device}{', LoRA ' + adapter.name if adapter else ''})",
            n_params=sum(p.numel() for p in self.model.parameters()),
        )

    # -- tokens and chat --------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=add_special, split_special_tokens=not parse_special))

    def piece(self, token: int) -> bytes:
        got = self._pieces.get(token)
        if got is None:
            text = self.tok.convert_ids_to_tokens(token) or ""
            if token not in self._special and all(c in _UNBYTE for c in text):  # byte-level BPE: exact bytes
                got = bytes(_UNBYTE[c] for c in text)
            else:
                got = self.tok.convert_tokens_to_string([text]).encode("utf-8")
            self._pieces[token] = got
        return got

    def detokenize(self, tokens: list[int]) -> str:
        return self.tok.decode(tokens)

    def prompt_tokens(self, prompt: str | list[int]) -> list[int]:
        return self.tokenize(prompt, add_special=True) if isinstance(prompt, str) else list(prompt)

    def is_eog(self, token: int) -> bool:
        return token in self._eog

    def format_chat(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        try:
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        except Exception as exc:  # jinja errors of a model's own template
            raise DriverError(Errno.EIO, f"could not apply the model's chat template: {exc}") from None

    # -- grammar and sampling ---------------------------------------------------------------

    def matcher(self, gbnf: str):
        from .grammar import Matcher

        if self._ll is None:
            import llguidance.hf
            from llguidance.torch import allocate_token_bitmask

            self._ll = llguidance.hf.from_tokenizer(self.tok, n_vocab=self.model.config.vocab_size)
            self.bitmask = allocate_token_bitmask(1, self.model.config.vocab_size)
        return Matcher(self._ll, gbnf)

    def grammar_accepts(self, grammar: str, text: str, *, complete: bool = True) -> bool:
        m = self.matcher(grammar)
        for tok in self.tokenize(text):
            if not m.allows(tok):
                return False
            m.accept(tok)
        return m.accepting() if complete else True

    def _sampler(self, sampling: Sampling, prompt: list[int]) -> _Sampler:
        return _Sampler(self, sampling)

    # -- the engine's decode ----------------------------------------------------------------

    def _decode(self, plan: list[tuple[Seq, int]]) -> list[int]:
        return self.decoder.call(self._forward, plan)

    def _forward(self, plan: list[tuple[Seq, int]]) -> list[int]:
        torch = self.torch
        from transformers import DynamicCache

        self.rows = []
        with torch.inference_mode():
            for s, k in plan:
                cache = self.caches[s.slot]
                if cache is None:
                    cache = self.caches[s.slot] = DynamicCache(config=self.model.config)
                if cache.get_seq_length() + k > self.info.n_ctx:
                    raise KVFull(f"a slot's KV ({self.info.n_ctx} tokens) has no room for this step")
                ids = torch.tensor([s.pending[:k]], device=self.device)
                try:
                    out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})
                except RuntimeError as exc:
                    raise DriverError(Errno.EIO, f"the transformers forward failed: {exc}") from None
                self.rows.append(out.logits[0, -1].to("cpu", torch.float32))
        return list(range(len(plan)))

    def _kv_keep(self, slot: int, n: int) -> None:
        cache = self.caches[slot]
        if cache is None:
            return
        if n == 0:
            self.caches[slot] = None
        elif cache.get_seq_length() > n:
            cache.crop(n - cache.get_seq_length())  # a negative count drops that many from the end

    # -- slot save/restore ------------------------------------------------------------------

    def _tensors(self, slot: int) -> list:
        cache = self.caches[slot]
        return [] if cache is None else [(layer.keys, layer.values) for layer in cache.layers]

    def save_slot(self, slot: int) -> bytes:
        with self.lock:
            if not self.slots[slot]:
                return b""
            buf = io.BytesIO()
            self.torch.save([(k.cpu(), v.cpu()) for k, v in self._tensors(slot)], buf)
            return buf.getvalue()

    def restore_slot(self, slot: int, data, tokens: list[int]) -> None:
        from transformers import DynamicCache

        with self.lock:
            if not self._clear_for_restore(slot, tokens):
                return
            try:
                layers = self.torch.load(io.BytesIO(bytes(data)), weights_only=True)
            except Exception as exc:
                raise DriverError(Errno.EIO, f"slot {slot}'s saved KV does not load: {exc}") from None
            cache = DynamicCache(config=self.model.config)
            for i, (k, v) in enumerate(layers):
                cache.update(k.to(self.device), v.to(self.device), i)
            if cache.get_seq_length() != len(tokens):
                raise DriverError(Errno.EIO, f"slot {slot}'s saved KV does not hold the tokens it claims")
            self.caches[slot] = cache
            self.slots[slot] = list(tokens)

    def slot_bytes(self, slot: int) -> int:
        with self.lock:
            return sum(k.nbytes + v.nbytes for k, v in self._tensors(slot))

    def close(self) -> None:
        with self.lock:
            self.caches = [None] * self.n_seq
            self.rows = []
