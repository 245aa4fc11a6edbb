"""Rubric items: which of a question's items an answer meets, and the score that follows from them.

A question's `rubric` is a list of items `{"text": ..., "points": ...}`. The grader says an item is met when
one of the answer's sentences says what it says: the item and the sentence are close in MiniLM sentence
embedding (`MET_SIMILARITY`), or the answer uses most of the item's content words that the question does
not give away (`MET_RECALL`). A teacher ticks the items in the review queue; the score then follows the
items (the points of those met, at most the question's maximum).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from grading.grader_model import _SEGMENT, _content, _embed_unique, _prepare_answer, _tokens

# Chosen on SAF English reference key points taken as rubric items (an item is a sentence of the reference;
# an answer labelled correct should meet most of its question's items, an incorrect one few).
MET_SIMILARITY = 0.6
MET_RECALL = 0.6
RUBRIC_VERSION = 1


@dataclass(frozen=True)
class RubricItem:
    text: str
    points: Decimal


def rubric_items(rubric: Any) -> list[RubricItem]:
    """The valid items of a question's stored rubric (an item without text is skipped; points default to 1)."""
    items = []
    for raw in rubric or []:
        if not isinstance(raw, dict):
            continue
        text = " ".join(str(raw.get("text", "")).split())
        if not text:
            continue
        try:
            points = Decimal(str(raw.get("points", 1)))
        except (ArithmeticError, ValueError):
            points = Decimal(1)
        items.append(RubricItem(text=text, points=max(points, Decimal(0))))
    return items


def _sentences(answer: str) -> list[str]:
    parts = [p.strip() for p in _SEGMENT.split(answer) if p and len(p.strip()) > 2]
    return parts or [answer]


def rubric_judge(*, items: list[RubricItem], answer: str, question: str = "") -> list[bool]:
    """For each item, whether the answer meets it."""
    if not items:
        return []
    text = _prepare_answer(answer)
    if not text.strip():
        return [False] * len(items)
    sentences = _sentences(text)
    vectors, index = _embed_unique([item.text for item in items] + sentences + [text])
    item_vectors = vectors[index[: len(items)]]
    answer_vectors = vectors[index[len(items) :]]
    similarity = (item_vectors @ answer_vectors.T).max(1)
    answer_words = set(_content(_tokens(text)))
    question_words = set(_content(_tokens(question)))
    met = []
    for item, best in zip(items, similarity, strict=True):
        words = set(_content(_tokens(item.text))) - question_words
        recall = len(words & answer_words) / len(words) if words else 0.0
        met.append(bool(best >= MET_SIMILARITY or recall >= MET_RECALL))
    return met


def rubric_points(*, items: list[RubricItem], met: list[bool], max_points: Decimal) -> Decimal:
    """The score the items give: the points of the met ones, scaled when the items' points do not add up to
    the question's maximum (so a rubric of 1-point items on a 10-point question still spans 0-10)."""
    total = sum((item.points for item in items), Decimal(0))
    if total <= 0:
        return Decimal("0.00")
    earned = sum((item.points for item, ok in zip(items, met, strict=True) if ok), Decimal(0))
    return (earned / total * max_points).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def rubric_split(*, items: list[RubricItem], met: list[bool]) -> tuple[list[str], list[str]]:
    """(texts of the items met, texts of the items missed)."""
    return (
        [item.text for item, ok in zip(items, met, strict=True) if ok],
        [item.text for item, ok in zip(items, met, strict=True) if not ok],
    )


def rubric_sentence(*, met: list[str], missed: list[str]) -> str:
    """The feedback's sentence naming the items."""
    parts = []
    if met:
        parts.append("Rubric items met: " + "; ".join(met) + ".")
    if missed:
        parts.append("Not yet shown: " + "; ".join(missed) + ".")
    return " ".join(parts)
