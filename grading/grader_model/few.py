"""A new question with a few teacher-graded answers: the unseen-question model's verdict, corrected by them.

The unseen-question model's log-probabilities are the prior (an offset); the question's graded answers add
evidence per label: similarity-weighted votes of the nearest graded answers (sentence embedding and
character n-gram views), how close the nearest graded answer of each label is compared with the nearest
of any, the character ridge regression's prediction and the pool's label shares. A conditional logit (one
weight per evidence kind, shared by the labels, each also scaled by log K) combines them: a few weights,
so a handful of training questions is enough to learn how far K graded answers can be trusted.

Trained on the training questions as if each were new: the prior is the unseen-question model's
out-of-fold prediction (question-grouped folds), the pools the first K answers in the review queue's order
(`grading.teaching`, least confident first, one of each group of similar answers per round) and random
ones; the ridge penalty is chosen by question-grouped cross-validation of the same simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grading.grader_model.calibration import _folds, _logsumexp
from grading.grader_model.config import GraderConfig
from grading.grader_model.neighbours import KNN_FEATURES, _Bank, _neighbour_features

# Evidence kinds per label (each also times log(K / 10)), then the labels' own constants.
FEW_EVIDENCE = ("prior", "vote_minilm", "vote_chars", "nearest_minilm", "nearest_chars", "ridge", "pool_share")
_VOTE_FLOOR = 0.02
_SHARE_FLOOR = 0.05


@dataclass
class _FewCombiner:
    """Weights of the conditional logit: `len(FEW_EVIDENCE)` main effects, as many times log(K/10), 3 constants."""

    weights: np.ndarray

    def log_proba(self, evidence: np.ndarray) -> np.ndarray:
        z = evidence @ self.weights
        return z - _logsumexp(z)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "conditional_logit", "evidence": list(FEW_EVIDENCE), "weights": self.weights.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _FewCombiner:
        return cls(weights=np.asarray(data["weights"], dtype=np.float64))


def few_evidence(prior_log_p: np.ndarray, votes: np.ndarray, pool_size: int) -> np.ndarray:
    """The (answers, 3 labels, weights) evidence tensor from the unseen-question model's log-probabilities and
    the neighbour features of `_neighbour_features` (embedding view, character view, ridge)."""
    n, k = len(prior_log_p), len(KNN_FEATURES)
    views = [votes[:, :k], votes[:, k : 2 * k]] if votes.shape[1] >= 2 * k else [votes[:, :k], votes[:, :k]]
    ridge = votes[:, 2 * k : 2 * k + 3] if votes.shape[1] >= 2 * k + 3 else np.zeros((n, 3))
    share = views[0][:, 3:6]
    nearest = []
    for view in views:
        top = view[:, 10:11]
        best = np.where(view[:, 3:6] > 0, view[:, 6:9], -1.0)
        nearest.append(best - top)
    kinds = [
        prior_log_p,
        np.log(views[0][:, 0:3] + _VOTE_FLOOR),
        np.log(views[1][:, 0:3] + _VOTE_FLOOR),
        nearest[0],
        nearest[1],
        ridge,
        np.log(share + _SHARE_FLOOR),
    ]
    main = np.stack(kinds, axis=2)  # (n, 3, kinds)
    scale = math.log(max(pool_size, 1) / 10.0)
    constants = np.broadcast_to(np.eye(3)[None, :, :], (n, 3, 3))
    return np.concatenate([main, main * scale, constants], axis=2)


def _fit(evidence: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Conditional logit by L-BFGS; `penalty` is an L2 penalty on every weight but the prior's."""
    from scipy.optimize import minimize

    d = evidence.shape[2]
    onehot = np.eye(3)[y]
    mask = np.ones(d)
    mask[0] = 0.0
    start = np.zeros(d)
    start[0] = 1.0  # the prior alone

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = evidence @ w
        log_p = z - _logsumexp(z)
        p = np.exp(log_p)
        value = -float((onehot * log_p).sum()) / len(y) + 0.5 * penalty * float((mask * w * w).sum())
        grad = np.einsum("nc,ncd->d", p - onehot, evidence) / len(y) + penalty * mask * w
        return value, grad

    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return np.asarray(result.x, dtype=np.float64)


def few_train(
    prior_log_p: np.ndarray,
    y: np.ndarray,
    bank: _Bank,
    groups: dict[str, np.ndarray],
    config: GraderConfig,
    seed: int,
) -> _FewCombiner | None:
    """The combiner, from pools of every training question (`prior_log_p`: out-of-fold, question-grouped)."""
    from grading.teaching import similar_groups, teaching_order

    rng = np.random.RandomState(seed)
    ridge = bank.chars is not None
    blocks: list[tuple[str, np.ndarray, np.ndarray]] = []  # (question, evidence, labels)
    for key, group in groups.items():
        confidence = np.exp(prior_log_p[group]).max(1)
        predicted = [str(c) for c in prior_log_p[group].argmax(1)]
        similar = similar_groups([0] * len(group), predicted, bank.vectors[group].astype(np.float64))
        queue = teaching_order(confidence.tolist(), similar, seed=seed)
        for size in config.few_pool_sizes:
            if len(group) < size + 5:
                continue
            orders = [np.asarray(queue)] + [rng.permutation(len(group)) for _ in range(config.few_draws)]
            for order in orders:
                pool, rest = group[order[:size]], group[order[size:]]
                votes = _neighbour_features(
                    bank.vectors[rest], bank.chars[rest] if ridge else None, pool, bank, config, ridge=ridge
                )
                blocks.append((key, few_evidence(prior_log_p[rest], votes, size), y[rest]))
    if not blocks or len(np.unique(np.concatenate([b[2] for b in blocks]))) < 2:
        return None
    keys = np.array([b[0] for b in blocks])
    penalty = config.few_penalties[0]
    if len(config.few_penalties) > 1 and len(groups) >= 3:
        penalty = _choose_penalty(blocks, keys, config, seed)
    evidence = np.concatenate([b[1] for b in blocks])
    labels = np.concatenate([b[2] for b in blocks])
    return _FewCombiner(weights=_fit(evidence, labels, penalty))


def _choose_penalty(
    blocks: list[tuple[str, np.ndarray, np.ndarray]], keys: np.ndarray, config: GraderConfig, seed: int
) -> float:
    """The penalty of least question-grouped cross-validated log loss."""
    folds = _folds(len(keys), keys, config.calibration_folds, seed)
    best, best_loss = config.few_penalties[0], math.inf
    for penalty in config.few_penalties:
        total, count = 0.0, 0
        for held in folds:
            held_set = set(held.tolist())
            train = [b for i, b in enumerate(blocks) if i not in held_set]
            test = [b for i, b in enumerate(blocks) if i in held_set]
            if not train or not test:
                continue
            w = _fit(np.concatenate([b[1] for b in train]), np.concatenate([b[2] for b in train]), penalty)
            evidence, labels = np.concatenate([b[1] for b in test]), np.concatenate([b[2] for b in test])
            z = evidence @ w
            total -= float((z - _logsumexp(z))[np.arange(len(labels)), labels].sum())
            count += len(labels)
        if count and total / count < best_loss:
            best, best_loss = penalty, total / count
    return best
