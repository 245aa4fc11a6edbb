"""The active grader: label and score from the trained classifier, feedback from the student model.

Both come from the models_runtime registry: the `grader` task names a directory with the
classifier (the grading/grader_model package) and the feedback bank it was trained with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from grading.feedback import FeedbackBank, FeedbackItem, feedback_write
from grading.grader_model import GRADER_METHOD_VERSION, GraderPrediction, GradingExample, grader_load, question_text_key
from models_runtime import api as models

BANK_FILE = "feedback_bank.jsonl"
_banks: dict[str, FeedbackBank] = {}


@dataclass
class Verdict:
    label: str
    score_fraction: float
    confidence: float
    feedback: str
    provenance: dict[str, Any]

    def points(self, max_points: Decimal) -> Decimal:
        return (Decimal(str(self.score_fraction)) * max_points).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def active_grader_dir() -> tuple[Path, str]:
    version = models.version_for_task("grader")
    return models.model_dir_for(version), version.name


def bank_write(directory: Path, rows: list[tuple[str, str, str, str]]) -> None:
    with (directory / BANK_FILE).open("w", encoding="utf-8") as handle:
        for question_key, answer, label, feedback in rows:
            handle.write(
                json.dumps({"question_key": question_key, "answer": answer, "label": label, "feedback": feedback})
                + "\n"
            )


def bank_load(directory: Path, extra_rows: list[tuple[str, str, str, str]] | None = None) -> FeedbackBank:
    """The grader's training bank plus, for the product, teachers' reviewed feedback."""
    key = str(directory)
    if key not in _banks:
        rows: list[tuple[str, str, str, str]] = []
        path = directory / BANK_FILE
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                data = json.loads(line)
                rows.append((data["question_key"], data["answer"], data["label"], data["feedback"]))
        _banks[key] = FeedbackBank.build(rows)
    base = _banks[key]
    if not extra_rows:
        return base
    extra = FeedbackBank.build(extra_rows)
    return FeedbackBank(
        question_keys=base.question_keys + extra.question_keys,
        answers=base.answers + extra.answers,
        labels=base.labels + extra.labels,
        feedback=base.feedback + extra.feedback,
        vectors=_stack(base.vectors, extra.vectors),
    )


def _stack(first: Any, second: Any) -> Any:
    import numpy as np

    return np.vstack([first, second]) if len(first) and len(second) else (first if len(first) else second)


def verdicts_for(
    examples: list[GradingExample],
    feedback_items: list[FeedbackItem],
    *,
    include_feedback: bool = True,
    extra_bank_rows: list[tuple[str, str, str, str]] | None = None,
    graded: list[GradingExample] | None = None,
    peers: list[GradingExample] | None = None,
) -> list[Verdict]:
    """Grade a batch: labels and scores, then feedback that agrees with each label.

    `graded`: answers the teachers have reviewed since the grader was trained; they are their questions'
    graded neighbours at once (no retraining). `peers`: the other answers to the same questions (a question
    nobody graded is judged against them as well as against its reference)."""
    directory, version_name = active_grader_dir()
    predictions: list[GraderPrediction] = grader_load(directory).predict(
        examples, graded=graded or (), peers=peers or ()
    )
    graded_per_key: dict[str, int] = {}
    for example in graded or ():
        key = question_text_key(example.question)
        graded_per_key[key] = graded_per_key.get(key, 0) + 1
    for item, prediction in zip(feedback_items, predictions, strict=True):
        item.label = prediction.label
    if include_feedback:
        written = feedback_write(
            feedback_items, bank=bank_load(directory, extra_bank_rows), use_model=settings.GRADING_MODEL_FEEDBACK
        )
    else:
        written = [("", {}) for _ in feedback_items]
    return [
        Verdict(
            label=prediction.label,
            score_fraction=float(min(max(prediction.score, 0.0), 1.0)),
            confidence=float(min(max(prediction.confidence, 0.0), 1.0)),
            feedback=text,
            provenance={
                "grader_version": version_name,
                "grader_method_version": GRADER_METHOD_VERSION,
                "teacher_graded_neighbours": graded_per_key.get(question_text_key(example.question), 0),
                **provenance,
            },
        )
        for example, prediction, (text, provenance) in zip(examples, predictions, written, strict=True)
    ]
