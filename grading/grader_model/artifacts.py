"""A grader's files: writing them, loading them (cached per directory) and forgetting them."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model import cross_encoder
from grading.grader_model.calibration import _Linear
from grading.grader_model.config import LABELS, GraderConfig
from grading.grader_model.features import BASE_FEATURES
from grading.grader_model.few import _FewCombiner
from grading.grader_model.neighbours import CHAR_FEATURES, KNN_FEATURES, RIDGE_FEATURES, _Bank, _views
from grading.grader_model.prediction import Grader, _Parts

FORMAT_VERSION = 1
META_FILE = "grader.json"
BANK_FILE = "bank.npz"
ENCODER_FILE = "cross_encoder.safetensors"
ENCODER_CONFIG_DIR = "cross_encoder"


def _save(output_dir: Path, parts: _Parts, encoder: Any, tokenizer: Any) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "vectors": parts.bank.vectors,
        "labels": parts.bank.labels,
        "scores": parts.bank.scores,
        "keys": parts.bank.keys.astype(str),
        **_char_arrays(parts.bank),
    }
    np.savez(output_dir / BANK_FILE, **arrays)
    if encoder is not None:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
        save_file(state, str(output_dir / ENCODER_FILE))
        encoder.encoder.config.save_pretrained(str(output_dir / ENCODER_CONFIG_DIR))
        tokenizer.save_pretrained(str(output_dir / ENCODER_CONFIG_DIR))
    meta = {
        "format_version": FORMAT_VERSION,
        "labels": list(LABELS),
        "config": asdict(parts.config),
        "base_features": BASE_FEATURES,
        "knn_features": KNN_FEATURES,
        "knn_views": ["minilm", "char_tfidf"][: _views(parts.bank)],
        "known_ridge": parts.uses_ridge,
        "ridge_features": RIDGE_FEATURES if parts.uses_ridge else [],
        "question_key_scheme": parts.key_scheme,
        "unknown": parts.unknown.to_json(),
        "unknown_peer_norm": parts.peer_norm.tolist() if parts.peer_norm is not None else None,
        "known": parts.known.to_json() if parts.known else None,
        "few": parts.few.to_json() if parts.few else None,
        "partial_score": parts.partial_score,
        "partial_score_by_key": parts.partial_score_by_key,
        "has_encoder": encoder is not None,
        "embedding_model": "all-MiniLM-L6-v2",
        "info": parts.info,
    }
    # Written last and atomically: a grader directory with grader.json is complete.
    tmp = output_dir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(output_dir / META_FILE)


def _char_arrays(bank: _Bank) -> dict[str, np.ndarray]:
    if bank.chars is None or bank.char_idf is None:
        return {}
    return {
        "char_data": bank.chars.data,
        "char_indices": bank.chars.indices,
        "char_indptr": bank.chars.indptr,
        "char_idf": bank.char_idf,
    }


_cache: dict[tuple[str, int], Grader] = {}
_cache_lock = threading.Lock()


def grader_load(path: Path) -> Grader:
    """Load a grader written by `grader_train`; cached per directory (and its grader.json's mtime)."""
    path = Path(path).resolve()
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path} holds no trained grader ({META_FILE} is missing)")
    key = (str(path), meta_path.stat().st_mtime_ns)
    with _cache_lock:
        if key not in _cache:
            # A retrained grader replaces the old one in memory rather than accumulating.
            for stale in [k for k in _cache if k[0] == key[0]]:
                del _cache[stale]
            _cache[key] = _load(path)
        return _cache[key]


def grader_unload(path: Path) -> None:
    """Forget a loaded grader (a measured fit about to be deleted): the cache holds no dead directories."""
    resolved = str(Path(path).resolve())
    with _cache_lock:
        for stale in [k for k in _cache if k[0] == resolved]:
            del _cache[stale]


def _few_load(data: dict | None) -> _FewCombiner | _Linear | None:
    """The few-answer model: method 3's conditional logit, method 2's logistic regression, or none (before)."""
    if not data:
        return None
    return _FewCombiner.from_json(data) if data.get("kind") == "conditional_logit" else _Linear.from_json(data)


def _load(path: Path) -> Grader:
    meta = json.loads((path / META_FILE).read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: grader format {meta.get('format_version')}, expected {FORMAT_VERSION}")
    known_fields = {f.name for f in fields(GraderConfig)}
    config = GraderConfig(**{k: v for k, v in meta["config"].items() if k in known_fields})
    with np.load(path / BANK_FILE, allow_pickle=False) as data:
        bank = _Bank(vectors=data["vectors"], labels=data["labels"], scores=data["scores"], keys=data["keys"])
        if "char_idf" in data.files:
            from scipy.sparse import csr_matrix

            shape = (len(bank.labels), CHAR_FEATURES)
            bank.chars = csr_matrix((data["char_data"], data["char_indices"], data["char_indptr"]), shape=shape)
            bank.char_idf = data["char_idf"]
    parts = _Parts(
        config=config,
        unknown=_Linear.from_json(meta["unknown"]),
        known=_Linear.from_json(meta["known"]) if meta["known"] else None,
        bank=bank,
        partial_score=float(meta["partial_score"]),
        partial_score_by_key={k: float(v) for k, v in meta["partial_score_by_key"].items()},
        info=meta.get("info", {}),
        key_scheme=int(meta.get("question_key_scheme", 1)),  # graders saved before the scheme existed: 1
        ridge=bool(meta.get("known_ridge", False)),  # graders saved before the ridge features: none
        # graders saved before 2026-12-02 read the features alone on unseen questions
        peer_norm=np.asarray(meta["unknown_peer_norm"]) if meta.get("unknown_peer_norm") else None,
        few=_few_load(meta.get("few")),
    )
    encoder = tokenizer = None
    if meta["has_encoder"]:
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config_dir = str(path / ENCODER_CONFIG_DIR)
        tokenizer = AutoTokenizer.from_pretrained(config_dir, local_files_only=True)
        bert = AutoModel.from_config(AutoConfig.from_pretrained(config_dir, local_files_only=True))
        encoder = cross_encoder._encoder_class()(bert, bert.config.hidden_size)
        encoder.load_state_dict(load_file(str(path / ENCODER_FILE)))
        encoder.eval()
    return Grader(parts, encoder, tokenizer)
