"""Teachers' corrections flow into distillation: a reviewed grade whose feedback a teacher rewrote becomes a
training example (weighted) and an (edited = chosen, machine = rejected) preference pair."""

from __future__ import annotations

from decimal import Decimal

import pytest

from distillation import feedback_task, pipeline
from grading.models import Grade
from grading.services import assignment_create, grade_feedback_edit, question_create, submission_create

pytestmark = pytest.mark.django_db

MACHINE = "Your answer is partially correct: part of what the question asks for is missing."
EDITED = "Partially correct: you name carrier sensing, but you do not say what happens after a collision."


def _grade(school, *, feedback_edited: bool) -> Grade:
    assignment = assignment_create(course=school.course, title="Networks")
    question = question_create(
        assignment=assignment, text="Explain CSMA/CD.", reference_answers=["Listen, send, detect collisions, back off."]
    )
    submission = submission_create(question=question, student=school.student, answer_text="Stations listen first.")
    grade = Grade.objects.create(
        submission=submission,
        label="partially_correct",
        score=Decimal("0.5"),
        feedback=MACHINE,
        model_label="partially_correct",
        model_score=Decimal("0.5"),
        model_feedback=MACHINE,
    )
    if feedback_edited:
        grade_feedback_edit(grade=grade, user=school.teacher, feedback=EDITED, approve=True)
    return grade


def test_an_edited_reviewed_feedback_is_a_correction_with_the_machines_text_as_the_rejected_one(school) -> None:
    _grade(school, feedback_edited=True)
    [row] = feedback_task.corrections()
    assert row["feedback"] == EDITED and row["machine_feedback"] == MACHINE
    assert row["label"] == "partially_correct" and row["answer"] == "Stations listen first."
    assert feedback_task.usable(row)
    assert pipeline.CORRECTION_WEIGHT > 1


def test_a_grade_nobody_edited_is_not_a_correction(school) -> None:
    _grade(school, feedback_edited=False)
    assert feedback_task.corrections() == []
