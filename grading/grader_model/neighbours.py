"""Graded neighbours of the same question: the bank of graded answers, similarity-weighted votes by
sentence embedding and by TF-IDF character n-grams, and the per-question kernel ridge regression."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model.config import LABELS, GraderConfig

KNN_FEATURES = (  # noqa: SIM905
    "knn_correct knn_partial knn_incorrect prior_correct prior_partial prior_incorrect "
    "max_sim_correct max_sim_partial max_sim_incorrect knn_score top_sim"
).split()
RIDGE_FEATURES = "ridge_correct ridge_partial ridge_incorrect ridge_score".split()  # noqa: SIM905


@dataclass
class _Bank:
    """Embeddings, labels and scores of the graded training answers, grouped by question key.

    `chars` (with `char_idf`) is a second view of the same answers: TF-IDF weighted character
    n-grams, which match the technical terms and spellings that sentence embeddings blur. Graders
    trained before it existed have none, and use the embedding neighbours alone.
    """

    vectors: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    keys: np.ndarray
    chars: Any = None  # scipy.sparse.csr_matrix, rows L2-normalised
    char_idf: np.ndarray | None = None

    def groups(self) -> dict[str, np.ndarray]:
        out: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys.tolist()):
            out.setdefault(key, []).append(i)
        return {k: np.asarray(v) for k, v in out.items()}


CHAR_NGRAMS = (3, 5)
CHAR_FEATURES = 2**18


def _char_counts(texts: Sequence[str]) -> Any:
    """Character n-gram counts (hashed, so there is no vocabulary to store), a CSR matrix."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        analyzer="char_wb", ngram_range=CHAR_NGRAMS, n_features=CHAR_FEATURES, alternate_sign=False, norm=None
    )
    return vectorizer.transform(list(texts)).tocsr()


def _char_idf(counts: Any) -> np.ndarray:
    """Smoothed IDF of the training answers; n-grams seen in fewer than two answers weigh nothing."""
    df = np.asarray((counts > 0).sum(0)).ravel()
    n = counts.shape[0]
    return np.where(df >= 2, np.log((1 + n) / (1 + df)) + 1.0, 0.0).astype(np.float32)


def _char_vectors(texts: Sequence[str], idf: np.ndarray, counts: Any = None) -> Any:
    from sklearn.preprocessing import normalize

    x = (_char_counts(texts) if counts is None else counts).astype(np.float32)
    x.data = 1.0 + np.log(x.data)  # sublinear term frequency
    return normalize(x.multiply(idf[None, :]).tocsr())


def _views(bank: _Bank) -> int:
    return 1 if bank.chars is None else 2


def _neighbour_features(
    vectors: np.ndarray,
    chars: Any,
    pool: np.ndarray,
    bank: _Bank,
    config: GraderConfig,
    exclude: np.ndarray | None = None,
    ridge: bool = False,
    ridge_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Neighbour features of answers to one question against `pool` rows of the bank, per view.

    With `ridge` (and a character view), the kernel ridge regression's predictions follow; `ridge_weights`
    are its dual weights for `pool` (`_ridge_weights`), computed here when not given.
    """
    blocks = [_knn_features(vectors @ bank.vectors[pool].T, pool, bank, config, exclude)]
    if bank.chars is not None:
        sims = np.asarray((chars @ bank.chars[pool].T).todense())
        blocks.append(_knn_features(sims, pool, bank, config, exclude))
        if ridge:
            blocks.append(_ridge_features(sims, pool, bank, config, exclude, ridge_weights))
    return np.hstack(blocks)


def _ridge_targets(pool: np.ndarray, bank: _Bank) -> np.ndarray:
    return np.hstack([np.eye(len(LABELS))[bank.labels[pool]], bank.scores[pool][:, None]])


def _ridge_weights(pool: np.ndarray, bank: _Bank, config: GraderConfig) -> np.ndarray:
    """Dual weights of a kernel ridge regression of one question's labels (one-hot) and scores on the
    character view: cosine kernel plus a constant, so a prediction is `(sims + offset) @ weights`."""
    kernel = np.asarray((bank.chars[pool] @ bank.chars[pool].T).todense(), dtype=np.float64) + config.ridge_offset
    return np.linalg.solve(kernel + config.ridge_lambda * np.eye(len(pool)), _ridge_targets(pool, bank))


def _ridge_features(
    sims: np.ndarray,
    pool: np.ndarray,
    bank: _Bank,
    config: GraderConfig,
    exclude: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """A per-question linear model on the character n-grams: kernel ridge regression of the label shares
    and the score over the question's graded answers (`RIDGE_FEATURES`).

    In training (`exclude`: each answer is its pool's row of the same index, so `sims` is the pool's own
    kernel) the predictions are leave-one-out, in closed form, like the neighbour votes beside them.
    """
    kernel = np.asarray(sims, dtype=np.float64) + config.ridge_offset
    if exclude is not None:
        if len(exclude) != len(pool) or not np.array_equal(exclude, np.arange(len(pool))):
            raise ValueError("leave-one-out ridge features need the pool's own answers, in order")
        targets = _ridge_targets(pool, bank)
        hat = np.linalg.solve(kernel + config.ridge_lambda * np.eye(len(pool)), kernel)  # symmetric
        leverage = np.diag(hat)[:, None]
        return targets - (targets - hat @ targets) / (1.0 - leverage)
    if weights is None:
        weights = _ridge_weights(pool, bank, config)
    return kernel @ weights


def _knn_features(
    sims: np.ndarray, pool: np.ndarray, bank: _Bank, config: GraderConfig, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Neighbour features from the similarities `sims` of answers to one question with `pool` rows of the bank.

    `exclude[i]` is a bank row to leave out for row i (the answer itself, when featurising training data).
    """
    sims = np.array(sims, dtype=np.float64)
    if exclude is not None:
        sims[np.arange(len(sims)), exclude] = -np.inf
    labels = bank.labels[pool]
    k = min(config.knn_k, len(pool) - (1 if exclude is not None else 0))
    out = np.zeros((len(sims), len(KNN_FEATURES)))
    valid = np.isfinite(sims)
    for c in range(3):
        members = (labels == c)[None, :] & valid
        counts = members.sum(1)
        out[:, 3 + c] = counts / np.maximum(1, valid.sum(1))
        out[:, 6 + c] = np.where(counts > 0, np.where(members, sims, -1.0).max(1), 0.0)
    order = np.argsort(-sims, axis=1)[:, :k]
    top = np.take_along_axis(sims, order, axis=1)
    weights = np.exp((top - top[:, :1]) / config.knn_temperature)
    weights /= weights.sum(1, keepdims=True)
    top_labels = labels[order]
    for c in range(3):
        out[:, c] = (weights * (top_labels == c)).sum(1)
    out[:, 9] = (weights * bank.scores[pool][order]).sum(1)
    out[:, 10] = top[:, 0]
    return out
