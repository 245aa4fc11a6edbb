"""Feedback follows the grade: a changed label rewrites the verdict the feedback states, a release with a
contradiction is refused naming the grades, and feedback is about this answer (issue 17, item 2)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.errors import ApplicationError
from grading.feedback import (
    FeedbackBank,
    FeedbackItem,
    feedback_contradiction,
    feedback_for_new_label,
    feedback_write,
)
from grading.models import Grade
from grading.services import assignment_release, grade_feedback_edit, grade_override, grades_relabel_many
from tests.accounts.factories import EnrollmentFactory
from tests.conftest import School, client_for
from tests.grading.test_views import HTMX, answer, make_assignment, make_grade

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "label", "stated"),
    [
        ("The response is partially correct because it misses the duplex link.", "correct", "partially correct"),
        ("The stated response is incorrect.", "partially_correct", "incorrect"),
        ("Correct.", "incorrect", "correct"),
        ("The response is correct.", "partially_correct", "correct"),
        # Verdicts on a part, or about something else than the answer, state no contradiction.
        ("The correct answer is TCP.", "incorrect", ""),
        ("You correctly name the window, but the second part is wrong.", "partially_correct", ""),
        ("The response is correct but misses the initial sequence number.", "partially_correct", ""),
        ("Correct. Well explained.", "correct", ""),
        ("", "correct", ""),
    ],
)
def test_the_verdict_the_feedback_states_is_read(text: str, label: str, stated: str) -> None:
    assert feedback_contradiction(text, label) == stated


def test_a_new_label_rewrites_the_verdict_and_keeps_what_is_said_of_the_answer() -> None:
    text = "The response is partially correct because it misses the duplex link. It names the sliding window."

    assert feedback_for_new_label(text, "correct") == "Your answer is correct. It names the sliding window."
    assert feedback_for_new_label("Correct.", "incorrect") == (
        "Your answer is not correct yet. Look again at what the question asks for."
    )


def test_an_override_rewrites_the_feedback_for_the_new_label_and_the_card_says_so(school: School) -> None:
    assignment = make_assignment(school.course)
    question = assignment.questions.first()
    grade = make_grade(
        answer(question, school.student),
        label="partially_correct",
        feedback="The response is partially correct because it misses the duplex link.",
    )

    response = client_for(school.teacher).post(
        reverse("grading:grade_override", args=[grade.pk]), {"label": "correct"}, **HTMX
    )

    grade.refresh_from_db()
    assert (grade.label, grade.feedback) == ("correct", "Your answer is correct.")
    assert grade.provenance["feedback_rewritten_for"] == "correct"
    assert 'data-testid="feedback-rewritten"' in response.content.decode()
    # Editing the feedback is the teacher's reading of it: the notice goes.
    grade = grade_feedback_edit(grade=grade, user=school.teacher, feedback="Correct: duplex is the requirement.")
    assert "feedback_rewritten_for" not in grade.provenance


def test_a_relabelled_group_gets_feedback_that_agrees(school: School) -> None:
    assignment = make_assignment(school.course)
    question = assignment.questions.first()
    other = school.other_student
    EnrollmentFactory(course=school.course, student=other)
    grades = [
        make_grade(answer(question, school.student), label="correct", feedback="Correct. It names the window."),
        make_grade(answer(question, other), label="correct", feedback="The response is correct."),
    ]

    grades_relabel_many(grades=grades, user=school.teacher, label="partially_correct")

    for grade in grades:
        grade.refresh_from_db()
        assert grade.label == "partially_correct"
        assert feedback_contradiction(grade.feedback, grade.label) == ""


def test_teacher_feedback_that_contradicts_the_label_is_refused_and_nothing_changes(school: School) -> None:
    assignment = make_assignment(school.course)
    grade = make_grade(answer(assignment.questions.first(), school.student), label="correct", feedback="Correct.")

    with pytest.raises(ApplicationError, match="The feedback says the answer is incorrect, but the grade is Correct"):
        grade_feedback_edit(grade=grade, user=school.teacher, feedback="The response is incorrect.")
    with pytest.raises(ApplicationError, match="says the answer is correct, but the grade is Incorrect"):
        grade_override(grade=grade, user=school.teacher, label="incorrect", feedback="Correct.")

    grade.refresh_from_db()
    assert (grade.label, grade.feedback, grade.status) == ("correct", "Correct.", Grade.Status.AWAITING_REVIEW)


def test_a_release_with_a_contradiction_is_refused_naming_the_grades(school: School) -> None:
    assignment = make_assignment(school.course)
    first, second, _ = assignment.questions.order_by("position")
    fine = make_grade(answer(first, school.student), status=Grade.Status.APPROVED, feedback="Correct.")
    # As a grade stood after an override before feedback followed the label.
    at_odds = make_grade(
        answer(second, school.student),
        status=Grade.Status.OVERRIDDEN,
        feedback="The response is partially correct because it misses the duplex link.",
    )

    with pytest.raises(ApplicationError) as raised:
        assignment_release(assignment=assignment, user=school.teacher)

    name = school.student.display_name
    assert raised.value.message == (
        "Nothing was released: the feedback of 1 grade contradicts its label. "
        f"{name}, Q2: graded Correct, the feedback says partially correct. "
        "Edit the feedback or the label, then release."
    )
    fine.refresh_from_db()
    at_odds.refresh_from_db()
    assert (fine.status, at_odds.status) == (Grade.Status.APPROVED, Grade.Status.OVERRIDDEN)
    page = client_for(school.teacher).post(reverse("grading:assignment_release", args=[assignment.pk]), follow=True)
    assert f"{name}, Q2: graded Correct" in page.content.decode()


QUESTION = "What requirement has to be met to use piggybacking?"
REFERENCE = "A full-duplex connection: both sides send data."


def _item(answer_text: str, label: str = "partially_correct") -> FeedbackItem:
    return FeedbackItem(
        question=QUESTION, question_key="q1", reference_answers=[REFERENCE], answer=answer_text, label=label
    )


def test_feedback_quoting_what_this_student_never_wrote_is_not_given_to_them() -> None:
    quoting = 'The "use of confirmed connectionless service" is not a requirement.'
    plain = "The response is partially correct: it names two-way traffic but not that both sides send data."
    bank = FeedbackBank.build(
        [
            ("q1", "Duplex and confirmed connectionless service.", "partially_correct", quoting),
            ("q1", "Duplex and confirmed connectionless service are needed.", "partially_correct", quoting),
            ("q1", "Two-way traffic.", "partially_correct", plain),
        ]
    )

    [(text, _)] = feedback_write(
        [_item("Duplex and the use of confirmed connectionless service.")], bank=bank, use_model=False
    )
    [(other, _)] = feedback_write([_item("It needs duplex operation.")], bank=bank, use_model=False)

    assert text == quoting  # that student wrote it
    assert other == plain


def test_different_answers_of_one_batch_never_get_the_same_retrieved_feedback() -> None:
    first = "The response is partially correct: two-way traffic is named, data in both directions is not."
    second = "The response is partially correct: the duplex link is named, but not who sends data."
    bank = FeedbackBank.build(
        [
            ("q1", "Two-way traffic.", "partially_correct", first),
            ("q1", "Two way traffic is needed.", "partially_correct", first),
            ("q1", "A duplex link.", "partially_correct", second),
        ]
    )
    answers = ["Two-way traffic.", "Traffic in two ways.", "Two-way traffic."]

    results = feedback_write([_item(a) for a in answers], bank=bank, use_model=False)

    texts = [text for text, _ in results]
    assert texts[0] == first
    assert texts[1] != first  # a different answer: not the same sentence
    assert texts[2] == first  # the same answer may read the same feedback


def test_grades_do_not_wait_for_a_model_server_that_is_not_up() -> None:
    """`make run` starts the model server beside the worker; the first grades may come before it answers."""
    from models_runtime.models import ModelVersion
    from models_runtime.registry import version_activate, version_register

    version = version_register(
        name="server-down",
        base_model="SmolLM2-135M-Instruct",
        kind=ModelVersion.Kind.GENERATOR,
        backend=ModelVersion.Backend.OPENAI,
        location="http://127.0.0.1:9/v1",
        tasks=["feedback"],
    )
    version_activate(version=version, task="feedback", reason="a server that is not up")
    bank = FeedbackBank.build([("q1", "Two-way traffic.", "partially_correct", "Name who sends data.")])

    [(text, provenance)] = feedback_write([_item("Two-way traffic.")], bank=bank)

    assert text == "Name who sends data."
    assert provenance["feedback_source"] == "retrieved"
    assert "127.0.0.1:9" in provenance["feedback_model_unavailable"]
