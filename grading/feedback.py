"""Written feedback on a graded answer.

Retrieve, then write: the teacher-approved feedback of the most similar graded answers (same
verdict, same question first) are the examples; the student model writes feedback in their style.
Code has the last word: feedback that contradicts the verdict, reveals a hidden reference answer,
or is empty or degenerate is replaced by the closest teacher-approved example, or a plain sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models_runtime import api as models

PROMPT = models.prompt_load(Path(__file__).resolve().parent / "prompts" / "feedback.toml")
LABEL_WORDS = {
    "correct": "correct",
    "partially_correct": "partially correct",
    "incorrect": "incorrect",
}
FALLBACK = {
    "correct": "Your answer is correct.",
    "partially_correct": "Your answer is partially correct: part of what the question asks for is missing.",
    "incorrect": "Your answer is not correct yet. Look again at what the question asks for.",
}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class FeedbackItem:
    question: str
    question_key: str
    reference_answers: list[str]
    answer: str
    label: str
    rubric_met: list[str] = field(default_factory=list)
    rubric_missed: list[str] = field(default_factory=list)
    is_reference_hidden: bool = True


@dataclass
class FeedbackBank:
    """Graded answers with teacher feedback, embedded once: the examples feedback is written from."""

    question_keys: list[str]
    answers: list[str]
    labels: list[str]
    feedback: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, rows: list[tuple[str, str, str, str]]) -> FeedbackBank:
        """rows: (question_key, answer, label, feedback); rows without feedback are skipped."""
        kept = [row for row in rows if row[3].strip()]
        vectors = models.embed([row[1] for row in kept]) if kept else np.zeros((0, 384), dtype=np.float32)
        return cls(
            question_keys=[row[0] for row in kept],
            answers=[row[1] for row in kept],
            labels=[row[2] for row in kept],
            feedback=[row[3] for row in kept],
            vectors=vectors,
        )

    def nearest(self, vector: np.ndarray, *, label: str, question_key: str, k: int = 3) -> list[int]:
        """Indices of the most similar answers with this label, this question's first."""
        if not self.answers:
            return []
        similarity = self.vectors @ vector
        labels = np.array(self.labels)
        same_question = np.array(self.question_keys) == question_key
        order: list[int] = []
        for mask in (same_question & (labels == label), ~same_question & (labels == label)):
            candidates = np.flatnonzero(mask)
            order.extend(candidates[np.argsort(-similarity[candidates])].tolist())
            if len(order) >= k:
                break
        return order[:k]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def contradicts_label(text: str, label: str) -> bool:
    words = " ".join(_words(text))
    says_wrong = bool(re.search(r"\b(incorrect|wrong|not correct|isn t correct|is not right)\b", words))
    says_partial = "partially" in words or "partly" in words or "missing" in words or "incomplete" in words
    says_fully_right = bool(re.search(r"\b(correct|right)\b", words)) and not says_wrong and not says_partial
    if label == "correct":
        return says_wrong
    if label == "incorrect":
        return says_fully_right
    return says_fully_right and not says_partial


def reveals_reference(text: str, references: list[str], answer: str, *, span: int = 6) -> bool:
    """True if the feedback repeats `span` consecutive words of a reference that the student did not write."""
    feedback_words = _words(text)
    answer_text = " ".join(_words(answer))
    grams = {" ".join(feedback_words[i : i + span]) for i in range(len(feedback_words) - span + 1)}
    for reference in references:
        words = _words(reference)
        for i in range(len(words) - span + 1):
            gram = " ".join(words[i : i + span])
            if gram in grams and gram not in answer_text:
                return True
    return False


def is_degenerate(text: str) -> bool:
    words = _words(text)
    if len(words) < 3:
        return True
    return len(set(words)) < len(words) * 0.35  # loops such as "the the the ..."


def _clean(text: str) -> str:
    text = text.strip().strip('"').strip()
    text = re.split(r"\n\s*(?:Student'?s answer|Question|Verdict|Feedback)\s*:", text)[0]
    return text.strip()


def feedback_write(
    items: list[FeedbackItem], *, bank: FeedbackBank, use_model: bool = True, max_new_tokens: int = 70
) -> list[tuple[str, dict[str, Any]]]:
    """Feedback text and its provenance for each item, written in one batch."""
    if not items:
        return []
    vectors = models.embed([item.answer or " " for item in items])
    drafts: list[str] = []
    prompts: list[list[dict[str, str]]] = []
    for item, vector in zip(items, vectors, strict=True):
        neighbours = bank.nearest(vector, label=item.label, question_key=item.question_key)
        examples = [bank.feedback[index] for index in neighbours]
        draft = examples[0] if examples else FALLBACK[item.label]
        if item.is_reference_hidden and reveals_reference(draft, item.reference_answers, item.answer):
            draft = FALLBACK[item.label]
        drafts.append(draft)
        example_text = (
            "\n".join(
                f'- Answer: "{bank.answers[index][:300]}" -> Feedback: {bank.feedback[index]}' for index in neighbours
            )
            or f"- Feedback: {FALLBACK[item.label]}"
        )
        prompts.append(
            PROMPT.render(
                question=item.question,
                reference=" | ".join(item.reference_answers),
                rubric_met="; ".join(item.rubric_met) or "none listed",
                rubric_missed="; ".join(item.rubric_missed) or "none listed",
                examples=example_text,
                answer=item.answer[:1500],
                label_words=LABEL_WORDS[item.label],
            )
        )
    if not use_model:
        return [(draft, {"feedback_source": "retrieved"}) for draft in drafts]

    generations = models.chat_batch(
        task="feedback", conversations=prompts, template=PROMPT, max_new_tokens=max_new_tokens, stop=["\n\n"]
    )
    results: list[tuple[str, dict[str, Any]]] = []
    for item, draft, generation in zip(items, drafts, generations, strict=True):
        text = _clean(generation.text)
        source = "generated"
        if (
            is_degenerate(text)
            or contradicts_label(text, item.label)
            or (item.is_reference_hidden and reveals_reference(text, item.reference_answers, item.answer))
        ):
            text, source = draft, "retrieved_after_check"
        results.append((text, {**generation.provenance, "feedback_source": source}))
    return results
