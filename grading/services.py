"""Writes to assignments, questions and submissions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Course
from accounts.permissions import user_role
from core.errors import ApplicationError, PermissionDeniedError
from grading.models import Assignment, Question, Submission

MAX_ANSWER_CHARS = 10_000


def _clean_and_save(instance: Any) -> None:
    try:
        instance.full_clean()
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    instance.save()


@transaction.atomic
def assignment_create(*, course: Course, title: str, description: str = "", created_by: Any = None) -> Assignment:
    assignment = Assignment(course=course, title=title, description=description, created_by=created_by)
    _clean_and_save(assignment)
    return assignment


@transaction.atomic
def question_create(
    *,
    assignment: Assignment,
    text: str,
    reference_answers: list[str],
    max_points: Decimal | float = Decimal("1.00"),
    rubric: list[dict[str, Any]] | None = None,
    position: int | None = None,
    source: str = "",
) -> Question:
    answers = [answer.strip() for answer in reference_answers if answer and answer.strip()]
    if not answers:
        raise ApplicationError("A question needs at least one reference answer.", code="reference_missing")
    if position is None:
        position = assignment.questions.count() + 1
    question = Question(
        assignment=assignment,
        text=text.strip(),
        reference_answers=answers,
        max_points=Decimal(str(max_points)),
        rubric=rubric or [],
        position=position,
        source=source,
    )
    _clean_and_save(question)
    return question


@transaction.atomic
def submission_create(*, question: Question, student: Any, answer_text: str) -> Submission:
    """Store a student's answer as the current one; earlier answers are kept, not current."""
    if user_role(student) != "student":
        raise PermissionDeniedError("Only students submit answers.")
    if not question.assignment.course.enrollments.filter(student=student).exists():
        raise PermissionDeniedError("You are not enrolled in this question's course.")
    text = (answer_text or "").strip()
    if not text:
        raise ApplicationError("The answer is empty. Write your answer before submitting.", code="answer_empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise ApplicationError(
            f"The answer is {len(text):,} characters long; the limit is {MAX_ANSWER_CHARS:,}.",
            code="answer_too_long",
        )
    Submission.objects.select_for_update().filter(question=question, student=student, is_current=True).update(
        is_current=False
    )
    return Submission.objects.create(question=question, student=student, answer_text=text, is_current=True)
