from __future__ import annotations

from dataclasses import dataclass, field

LABELS = ("correct", "partially_correct", "incorrect")


@dataclass
class GradingExample:
    question: str
    reference_answers: list[str]
    answer: str
    label: str | None = None
    score: float | None = None
    question_id: str = ""
