"""Figures of a grader on labelled answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model.calibration import expected_calibration_error
from grading.grader_model.config import GradingExample
from grading.grader_model.prediction import Grader


def grader_evaluate(grader: Grader, examples: list[GradingExample], *, graded: Sequence[GradingExample] = ()) -> dict:
    """Accuracy, macro-F1 and ECE over labelled examples; score MSE over examples with a score.

    `graded`: answers taken as graded by a teacher, the grader's neighbours for this evaluation only."""
    from sklearn.metrics import f1_score

    predictions = grader.predict(examples, graded=graded)
    labelled = [(e, p) for e, p in zip(examples, predictions, strict=True) if e.label is not None]
    scored = [(e, p) for e, p in zip(examples, predictions, strict=True) if e.score is not None]
    if not labelled:
        return {"n": 0, "accuracy": None, "macro_f1": None, "score_mse": None, "ece": None}
    truth = [e.label for e, _ in labelled]
    guess = [p.label for _, p in labelled]
    correct = np.array([t == g for t, g in zip(truth, guess, strict=True)], dtype=float)
    confidence = np.array([p.confidence for _, p in labelled])
    return {
        "n": len(labelled),
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(truth, guess, average="macro")),
        "score_mse": float(np.mean([((e.score or 0.0) - p.score) ** 2 for e, p in scored])) if scored else None,
        "ece": expected_calibration_error(confidence, correct),
    }
