"""Each grading rule lives in one service or selector, which the views and the API call: called directly, the
service refuses with the same message and code that the pages and the API show, and changes nothing."""

from __future__ import annotations

import pytest

from core.errors import ApplicationError, ConflictError
from core.models import Job
from grading import selectors
from grading.models import Grade, Submission
from grading.selectors import GRADER_MISSING, ReviewGroup, grade_list_for_group, grade_review_groups
from grading.services import assignment_grading_start, grader_training_start, question_create, submission_create
from models_runtime import api as models
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import School
from tests.grading.test_views import answer, make_assignment, make_grade, questions_of

pytestmark = pytest.mark.django_db


def test_grading_cannot_start_without_a_grader(school: School) -> None:
    assignment = make_assignment(school.course)
    answer(questions_of(assignment)[0], school.student)

    with pytest.raises(ConflictError) as refused:
        assignment_grading_start(assignment=assignment, user=school.teacher)

    assert (refused.value.code, refused.value.message) == ("grader_not_ready", GRADER_MISSING)
    assert Job.objects.count() == 0


def test_grading_starts_by_the_task_name_with_an_active_grader(school: School, active_grader) -> None:
    assignment = make_assignment(school.course)

    job = assignment_grading_start(assignment=assignment, user=school.teacher)

    assert (job.kind, job.task_name, job.params) == (
        "grading.assignment",
        "grading.model_assignment_grade_task",
        {"assignment_id": assignment.pk},
    )


def test_answers_are_closed_once_the_grade_is_released(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    make_grade(answer(question, school.student, "Final"), status=Grade.Status.RELEASED)

    with pytest.raises(ConflictError) as refused:
        submission_create(question=question, student=school.student, answer_text="Changed")

    assert refused.value.code == "answers_closed"
    assert refused.value.message == (
        "Your teacher has released the grade of this answer, so answers to this question are closed."
    )
    assert list(Submission.objects.values_list("answer_text", flat=True)) == ["Final"]


def test_one_grader_training_at_a_time_named_by_its_title(school: School) -> None:
    first = grader_training_start(user=school.admin, title="Retrain the grader")

    # The refusal names the training that was asked for (the view's "Retrain the grader", the default here).
    with pytest.raises(ConflictError, match="“Train the grader” is already queued or running"):
        grader_training_start(user=school.admin)

    assert (first.title, first.task_name, first.unique_key) == (
        "Retrain the grader",
        "grading.model_grader_train_task",
        "grading.retrain",
    )
    assert Job.objects.count() == 1


def test_review_groups_gather_similar_answers_of_one_question_and_label(school: School) -> None:
    assignment = make_assignment(school.course)
    q1 = questions_of(assignment)[0]
    students = [school.student, *StudentFactory.create_batch(2)]
    for student in students[1:]:
        EnrollmentFactory(course=school.course, student=student)
    twins = [make_grade(answer(q1, student, "Routers forward packets between networks.")) for student in students[:2]]
    loner = make_grade(answer(q1, students[2], "Bananas are yellow."), label="incorrect")

    groups = grade_review_groups(grades=[*twins, loner])

    assert groups.group_of == {twins[0].pk: 1, twins[1].pk: 1}
    assert groups.groups == [
        ReviewGroup(number=1, question=q1, label="correct", label_display="Correct", grade_ids=[g.pk for g in twins])
    ]
    assert groups.problem == ""


def test_without_an_embedding_model_answers_are_not_grouped_and_the_page_is_told(school: School, monkeypatch) -> None:
    grade = make_grade(answer(questions_of(make_assignment(school.course))[0], school.student))

    def no_model(texts: list[str]) -> None:
        raise models.ModelNotFoundError("No embedding model is installed.")

    monkeypatch.setattr(selectors.models, "embed", no_model)  # the fault: the model is missing

    groups = grade_review_groups(grades=[grade])

    assert (groups.group_of, groups.groups) == ({}, [])
    assert groups.problem == "Similar answers are not grouped: No embedding model is installed."


def test_a_group_with_a_grade_of_another_assignment_is_refused(school: School) -> None:
    assignment = make_assignment(school.course)
    own = make_grade(answer(questions_of(assignment)[0], school.student))
    stranger = make_grade(answer(questions_of(make_assignment(school.course, title="Other"))[0], school.student))

    assert grade_list_for_group(assignment=assignment, grade_ids=[own.pk]) == [own]
    with pytest.raises(ApplicationError, match="Some of these grades are not in this assignment any more"):
        grade_list_for_group(assignment=assignment, grade_ids=[own.pk, stranger.pk])


def test_a_question_handed_over_for_review_needs_no_reference_answer(school: School) -> None:
    assignment = make_assignment(school.course, questions=1)
    with pytest.raises(ApplicationError) as refused:
        question_create(assignment=assignment, text="Why does a leaf need light?", reference_answers=[])
    assert refused.value.code == "reference_missing"

    question = question_create(
        assignment=assignment, text="  Why does a leaf need light?  ", reference_answers=[], requires_reference=False
    )

    assert (question.text, question.reference_answers, question.position) == ("Why does a leaf need light?", [], 2)
    assert assignment.questions.count() == 2
