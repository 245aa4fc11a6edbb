"""Logistic regression stored as plain arrays (no pickles in the artifacts), temperatures fitted on
out-of-fold predictions, folds and the calibration error."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model.config import GraderConfig


@dataclass
class _Linear:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float = 1.0

    def log_proba(self, x: np.ndarray) -> np.ndarray:
        z = (((x - self.mean) / self.scale) @ self.coef.T + self.intercept) / self.temperature
        return z - _logsumexp(z)

    def to_json(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Linear:
        return cls(
            mean=np.asarray(data["mean"]),
            scale=np.asarray(data["scale"]),
            coef=np.asarray(data["coef"]),
            intercept=np.asarray(data["intercept"]),
            temperature=float(data["temperature"]),
        )


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(1, keepdims=True)
    return top + np.log(np.exp(z - top).sum(1, keepdims=True))


def _fit_linear(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> _Linear:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    model.fit((x - mean) / scale, y)
    # Expand to all three classes even when the training data lacks one (tiny data sets).
    coef = np.zeros((3, x.shape[1]))
    intercept = np.full(3, -30.0)
    if len(model.classes_) == 1:
        intercept[int(model.classes_[0])] = 0.0
    elif len(model.classes_) == 2:
        # sklearn's binary model: one row for the second class against the first.
        coef[int(model.classes_[1])] = model.coef_[0]
        intercept[int(model.classes_[1])] = model.intercept_[0]
        intercept[int(model.classes_[0])] = 0.0
    else:
        coef[model.classes_.astype(int)] = model.coef_
        intercept[model.classes_.astype(int)] = model.intercept_
    return _Linear(mean=mean, scale=scale, coef=coef, intercept=intercept)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising held-out log loss (a 1-D search; the loss is unimodal in log T)."""
    if len(y) < 10:
        return 1.0
    best, best_loss = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.25), math.log(8.0), 61)):
        z = logits / t
        loss = float(-(z - _logsumexp(z))[np.arange(len(y)), y].mean())
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def _folds(n: int, groups: np.ndarray | None, k: int, seed: int) -> list[np.ndarray]:
    rng = np.random.RandomState(seed)
    if groups is not None:
        unique = np.unique(groups)
        rng.shuffle(unique)
        k = min(k, len(unique))
        return [np.where(np.isin(groups, unique[f::k]))[0] for f in range(k)] if k >= 2 else []
    order = rng.permutation(n)
    k = min(k, n)
    return [np.sort(order[f::k]) for f in range(k)] if k >= 2 else []


def _oof_log_proba(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, c: float, config: GraderConfig, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits of `_fit_linear` models (rows, labels) and which rows a fold held out."""
    logits = np.zeros((len(y), 3))
    covered = np.zeros(len(y), dtype=bool)
    for held in _folds(len(y), groups, config.calibration_folds, seed):
        rest = np.setdiff1d(np.arange(len(y)), held)
        if len(np.unique(y[rest])) < 2 or len(held) == 0:
            continue
        logits[held] = _fit_linear(x[rest], y[rest], c, seed).log_proba(x[held])
        covered[held] = True
    return logits, covered


def _oof_temperature(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, c: float, config: GraderConfig, seed: int
) -> float:
    folds = _folds(len(y), groups, config.calibration_folds, seed)
    logits, targets = [], []
    for held in folds:
        rest = np.setdiff1d(np.arange(len(y)), held)
        if len(np.unique(y[rest])) < 2 or len(held) == 0:
            continue
        model = _fit_linear(x[rest], y[rest], c, seed)
        logits.append(model.log_proba(x[held]))
        targets.append(y[held])
    if not logits:
        return 1.0
    return _fit_temperature(np.concatenate(logits), np.concatenate(targets))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)
