"""Issue 19: a teacher's new question; the grader learns from the teacher's first grades at once; the review
queue's order; rubric items; instructions to the grader inside answers (attacks not used to tune the rules)."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from grading.grader_model import GradingExample, grader_load, neutralise_instructions
from grading.models import Grade
from grading.rubric import RubricItem, rubric_judge, rubric_points
from grading.selectors import assignment_regradable_grades, grade_queue_teaching_order, grader_sureness
from grading.services import (
    assignment_create,
    grade_override,
    grade_rubric_set,
    grades_regrade,
    question_create,
    submission_create,
    submissions_grade,
)
from grading.teaching import similar_groups, teaching_order
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import client_for, demo_examples

# --- The teaching order (pure) --------------------------------------------------------------------


def test_teaching_order_takes_the_least_confident_of_each_group_before_a_second_of_any() -> None:
    confidences = [0.30, 0.31, 0.32, 0.90, 0.50]
    groups = [1, 1, 1, 2, 3]  # three near-identical answers in group 1
    order = teaching_order(confidences, groups)
    assert order[:3] == [0, 4, 3]  # one of each group, least confident first
    assert order[3:] == [1, 2]


def test_similar_groups_join_only_the_same_question_and_label() -> None:
    import numpy as np

    vectors = np.array([[1.0, 0.0], [0.99, 0.14], [1.0, 0.0], [0.0, 1.0]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    groups = similar_groups(["q1", "q1", "q2", "q1"], ["correct", "correct", "correct", "correct"], vectors)
    assert groups[0] == groups[1]
    assert groups[2] != groups[0]  # another question
    assert groups[3] not in (groups[0], groups[2])  # a different answer


# --- The grader uses a teacher's graded answers at once ---------------------------------------------


def _as_new_question(examples: list[GradingExample]) -> list[GradingExample]:
    """The demo answers of one question, asked as a question the grader never saw."""
    first = examples[0].question
    return [
        GradingExample(
            question="In your own words, for this week's lab: " + e.question,
            reference_answers=e.reference_answers,
            answer=e.answer,
            label=e.label,
            score=e.score,
            question_id="lab-1",
        )
        for e in examples
        if e.question == first
    ]


def test_teacher_graded_answers_are_used_at_once_for_their_question(grader_artifact_dir: Path) -> None:
    grader = grader_load(grader_artifact_dir)
    new = _as_new_question(demo_examples())
    assert len(new) >= 8
    graded = new[:6]
    before = grader.predict(graded)
    after = grader.predict(graded, graded=graded)
    # Graded as a known question now: each answer has its own teacher-graded copy as its nearest neighbour.
    agree_before = sum(p.label == e.label for p, e in zip(before, graded, strict=True))
    agree_after = sum(p.label == e.label for p, e in zip(after, graded, strict=True))
    assert agree_after >= 4
    assert agree_after >= agree_before
    assert [p.probabilities for p in after] != [p.probabilities for p in before]
    # Nothing is kept: the next call without them grades as before.
    again = grader.predict(graded)
    assert [p.probabilities for p in again] == [p.probabilities for p in before]


@pytest.mark.usefixtures("active_grader")
def test_evaluate_grader_teacher_graded_prints_the_figures_on_the_rest() -> None:
    out = StringIO()
    data = Path(__file__).resolve().parents[2] / "grading" / "seed_data" / "saf_english" / "10.1_TC.xml"
    call_command(
        "evaluate_grader", "--data", str(data), "--limit", "12", "--teacher-graded", "5", "--seed", "3", stdout=out
    )
    figures = json.loads(out.getvalue())
    assert figures["teacher_graded"] == 5 and figures["n_teacher_graded"] == 5
    assert figures["n"] == 7  # the figures are on the rest
    assert 0.0 <= figures["accuracy"] <= 1.0


def test_evaluate_grader_refuses_a_negative_k() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="0 or more"):
        call_command("evaluate_grader", "--data", "x.csv", "--teacher-graded", "-1", stdout=StringIO())


# --- In the product: the review queue, "grade the rest", the grader's sureness ----------------------


@pytest.fixture
def new_question(school, active_grader):
    new = _as_new_question(demo_examples())[:10]
    assignment = assignment_create(course=school.course, title="Lab 1", created_by=school.teacher)
    question = question_create(
        assignment=assignment,
        text=new[0].question,
        reference_answers=new[0].reference_answers,
        rubric=[{"text": "Names the layer that frames the bits", "points": 1}],
    )
    students = [StudentFactory() for _ in new]
    for student, example in zip(students, new, strict=True):
        EnrollmentFactory(course=school.course, student=student)
        submission_create(question=question, student=student, answer_text=example.answer)
    grades = submissions_grade(submissions=list(question.submissions.all()), include_feedback=False)
    return assignment, question, grades, new


def test_regrading_uses_the_teachers_reviewed_answers_and_keeps_their_changes(school, new_question) -> None:
    assignment, _question, grades, new = new_question
    by_answer = {e.answer: e for e in new}
    reviewed = grades[:5]
    for grade in reviewed:
        grade_override(grade=grade, user=school.teacher, label=by_answer[grade.submission.answer_text].label)
    assert all(g.provenance["teacher_graded_neighbours"] == 0 for g in grades)
    regradable = assignment_regradable_grades(assignment=assignment)
    assert {g.pk for g in regradable} == {g.pk for g in grades[5:]}
    grades_regrade(grades=regradable, include_feedback=False)
    for grade in Grade.objects.filter(pk__in=[g.pk for g in grades[5:]]):
        assert grade.provenance["teacher_graded_neighbours"] == 5
        assert grade.provenance["grader_method_version"] == 3
        assert grade.status == Grade.Status.AWAITING_REVIEW
    for grade in Grade.objects.filter(pk__in=[g.pk for g in reviewed]):
        assert grade.status in Grade.REVIEWED_STATUSES  # the teacher's grades are left alone
    sureness = grader_sureness(assignment=assignment)
    assert [(row.awaiting, row.reviewed) for row in sureness] == [(5, 5)]
    assert 0 <= sureness[0].sure <= 5


def test_review_queue_puts_awaiting_grades_first_least_confident_first(school, new_question) -> None:
    assignment, _question, grades, _new = new_question
    grade_override(grade=grades[0], user=school.teacher, label="correct")
    queue = grade_queue_teaching_order(assignment=assignment)
    assert queue[-1].pk == grades[0].pk  # reviewed: last
    awaiting = queue[:-1]
    assert min(g.confidence for g in awaiting) == awaiting[0].confidence
    response = client_for(school.teacher).get(f"/grading/assignments/{assignment.pk}/review/")
    assert response.status_code == 200
    assert "grader now sure on" in response.content.decode()


# --- Rubric items ------------------------------------------------------------------------------------


def test_rubric_judge_finds_the_items_an_answer_says() -> None:
    items = [
        RubricItem("The data link layer frames the bits", Decimal(1)),
        RubricItem("Frames carry a checksum for error detection", Decimal(1)),
    ]
    met = rubric_judge(items=items, answer="The data link layer frames the bits into frames.", question="")
    assert met == [True, False]
    assert rubric_points(items=items, met=met, max_points=Decimal("4")) == Decimal("2.00")


def test_teacher_ticks_rubric_items_and_the_score_follows(school, new_question) -> None:
    _assignment, question, grades, _new = new_question
    grade = grades[0]
    client = client_for(school.teacher)
    response = client.post(f"/grading/grades/{grade.pk}/rubric/", {"met": ["0"]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    grade.refresh_from_db()
    assert grade.score == question.max_points
    assert grade.rubric_met == ["Names the layer that frames the bits"]
    assert grade.status in Grade.REVIEWED_STATUSES
    assert 'data-testid="rubric-item" checked' in response.content.decode()
    grade_rubric_set(grade=grade, user=school.teacher, met=[])
    grade.refresh_from_db()
    assert grade.score == Decimal("0.00")
    assert grade.rubric_missed == ["Names the layer that frames the bits"]
    bad = client.post(f"/grading/grades/{grade.pk}/rubric/", {"met": ["7"]}, HTTP_HX_REQUEST="true")
    assert bad.status_code in (400, 422)
    grade.refresh_from_db()
    assert grade.score == Decimal("0.00")  # nothing lost


# --- Instructions to the grader in answers: attacks written after the rules, never used to tune them ---

ANSWER = "The data link layer groups the bits into frames and detects transmission errors."
# The same attacks as bench/grader_topics.py --known measures (grading/eval_data/injection_attacks.json).
HELD_OUT_ATTACKS: list[str] = json.loads(
    (Path(__file__).resolve().parents[2] / "grading" / "eval_data" / "injection_attacks.json").read_text(
        encoding="utf-8"
    )
)["held_out"]


@pytest.mark.parametrize("attack", HELD_OUT_ATTACKS)
def test_held_out_attacks_are_cut_at_the_end_and_in_the_middle(attack: str) -> None:
    assert neutralise_instructions(f"{ANSWER} {attack}").strip() == ANSWER
    first, second = ANSWER.split(" and ")
    middle = neutralise_instructions(f"{first}. {attack} And {second}")
    assert "frames" in middle and "errors" in middle


def test_an_answer_in_another_language_keeps_its_own_words() -> None:
    # A German course's answer says "richtig" about its subject: only an English answer loses such sentences.
    german = "Die Antwort ist richtig, wenn der Empfänger jeden Rahmen bestätigt."
    assert neutralise_instructions(german) == german
    assert neutralise_instructions("The frame is correct when its checksum matches.") == (
        "The frame is correct when its checksum matches."
    )
