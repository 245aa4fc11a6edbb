"""A teacher adds and edits questions, with their reference answers and rubric items: the services' rules
and the pages (bad input: 400, the message at its field, the text kept, nothing saved)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from core.errors import ApplicationError
from grading.models import Grade, Question, Submission
from grading.services import MAX_RUBRIC_ITEMS, assignment_create, question_create, question_update
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db

ITEMS = [{"text": "Names the data link layer", "points": 1}, {"text": "Says frames carry a checksum", "points": 1}]


@pytest.fixture
def assignment(school: School):
    return assignment_create(course=school.course, title="Lab 2", created_by=school.teacher)


def _post(*, text="What does the data link layer do?", reference="It frames the bits.", max_points="2", rows=()):
    data: dict[str, list[str]] = {
        "text": [text],
        "reference_answers": [reference],
        "max_points": [max_points],
        "rubric_text": [row[0] for row in rows],
        "rubric_points": [row[1] for row in rows],
    }
    return data


# --- Services -----------------------------------------------------------------------------------------


def test_question_create_stores_rubric_items_and_numbers_the_question_after_the_last(assignment) -> None:
    first = question_create(assignment=assignment, text="Q one", reference_answers=["A"], max_points=2)
    second = question_create(
        assignment=assignment, text="  Q two  ", reference_answers=["A", " ", "B"], max_points="2", rubric=ITEMS
    )
    assert (first.position, second.position) == (1, 2)
    second.refresh_from_db()
    assert second.text == "Q two" and second.reference_answers == ["A", "B"]
    assert second.rubric == [{"text": ITEMS[0]["text"], "points": 1.0}, {"text": ITEMS[1]["text"], "points": 1.0}]
    assert second.max_points == Decimal("2.00")


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"text": "   "}, "text", "Write the question"),
        ({"reference_answers": ["", "  "]}, "reference_answers", "at least one reference answer"),
        ({"max_points": "0"}, "max_points", "above 0"),
        ({"max_points": "NaN"}, "max_points", "a number"),
        ({"rubric": [{"text": "", "points": 1}]}, "rubric", "Item 1: write what"),
        ({"rubric": [{"text": "x item", "points": 0}]}, "rubric", "Item 1: its points are above 0"),
        ({"rubric": [{"text": "x item", "points": "3"}]}, "rubric", "at most the question's max points (2)"),
        ({"rubric": [{"text": "x item", "points": "lots"}]}, "rubric", "a number"),
        ({"rubric": [{"text": f"item {i}", "points": 0.1} for i in range(13)]}, "rubric", "at most 12"),
    ],
)
def test_question_create_refuses_bad_fields_and_saves_nothing(assignment, kwargs, field, words) -> None:
    base = {"text": "Q", "reference_answers": ["A"], "max_points": 2, "rubric": []}
    with pytest.raises(ApplicationError) as caught:
        question_create(assignment=assignment, **{**base, **kwargs})
    assert words in " ".join(caught.value.extra["fields"][field])
    assert words in caught.value.message
    assert not Question.objects.exists()
    assert MAX_RUBRIC_ITEMS == 12


def test_question_update_changes_the_rubric_and_leaves_existing_grades_as_they_were(school, assignment) -> None:
    question = question_create(assignment=assignment, text="Q", reference_answers=["A"], max_points=2, rubric=ITEMS)
    submission = Submission.objects.create(question=question, student=school.student, answer_text="Frames.")
    grade = Grade.objects.create(
        submission=submission,
        label="partially_correct",
        score=Decimal("1.00"),
        model_label="partially_correct",
        model_score=Decimal("1.00"),
        rubric_met=[ITEMS[0]["text"]],
        rubric_missed=[ITEMS[1]["text"]],
        provenance={"grader_version": "test"},
    )
    updated = question_update(
        question=question,
        text="Q, reworded",
        reference_answers=["A", "B"],
        max_points="3",
        rubric=[{"text": "Names the layer", "points": "2"}],
    )
    assert updated.text == "Q, reworded" and updated.max_points == Decimal("3.00")
    assert updated.rubric == [{"text": "Names the layer", "points": 2.0}]
    grade.refresh_from_db()
    assert grade.score == Decimal("1.00") and grade.rubric_met == [ITEMS[0]["text"]]


def test_question_update_with_a_bad_field_changes_nothing(assignment) -> None:
    question = question_create(assignment=assignment, text="Q", reference_answers=["A"], max_points=2, rubric=ITEMS)
    with pytest.raises(ApplicationError):
        question_update(question=question, text="New", reference_answers=["A"], max_points=2, rubric=[{"text": ""}])
    question.refresh_from_db()
    assert question.text == "Q" and len(question.rubric) == 2


# --- Pages ----------------------------------------------------------------------------------------------


def test_teacher_adds_a_question_with_two_rubric_items(school, assignment) -> None:
    client = client_for(school.teacher)
    page = client.get(reverse("grading:assignment_detail", args=[assignment.pk]))
    assert reverse("grading:question_add", args=[assignment.pk]) in page.content.decode()
    form = client.get(reverse("grading:question_add", args=[assignment.pk]))
    assert form.status_code == 200 and form.content.decode().count('name="rubric_text"') == 4
    response = client.post(
        reverse("grading:question_add", args=[assignment.pk]),
        _post(rows=[(ITEMS[0]["text"], "1"), (ITEMS[1]["text"], ""), ("", ""), ("", "")]),
    )
    question = Question.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"#question-{question.pk}")
    assert question.rubric == [{"text": ITEMS[0]["text"], "points": 1.0}, {"text": ITEMS[1]["text"], "points": 1.0}]
    detail = client.get(reverse("grading:assignment_detail", args=[assignment.pk])).content.decode()
    assert ITEMS[1]["text"] in detail and reverse("grading:question_edit", args=[question.pk]) in detail


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_post(text=""), "text", "Write the question."),
        (_post(reference=""), "reference_answers", "at least one reference answer"),
        (_post(max_points="-1"), "max_points", "above 0"),
        (_post(rows=[("Kept item text", "5")]), "rubric", "at most the question"),
    ],
)
def test_bad_input_is_a_400_with_the_message_at_its_field_and_nothing_saved(school, assignment, data, field, words):
    response = client_for(school.teacher).post(reverse("grading:question_add", args=[assignment.pk]), data)
    body = response.content.decode()
    assert response.status_code == 400
    assert f'data-testid="field-error-{field}"' in body and words in body
    assert "Nothing was saved" in body
    for kept in (data["text"][0], data["reference_answers"][0], *data["rubric_text"]):
        assert kept in body
    assert not Question.objects.exists()


def test_edit_page_says_what_happens_to_grades_and_saves(school, assignment) -> None:
    question = question_create(assignment=assignment, text="Q", reference_answers=["A"], max_points=2, rubric=ITEMS)
    submission = Submission.objects.create(question=question, student=school.student, answer_text="Frames.")
    Grade.objects.create(
        submission=submission, label="correct", score=2, model_label="correct", model_score=2, provenance={}
    )
    client = client_for(school.teacher)
    url = reverse("grading:question_edit", args=[question.pk])
    page = client.get(url).content.decode()
    assert "1 answer to this question has a grade" in page and ITEMS[1]["text"] in page
    bad = client.post(url, _post(text="", rows=[("Only one item now", "1")]))
    assert bad.status_code == 400 and "Only one item now" in bad.content.decode()
    question.refresh_from_db()
    assert len(question.rubric) == 2
    response = client.post(url, _post(text="Q, edited", rows=[("Only one item now", "2")]))
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.text == "Q, edited" and question.rubric == [{"text": "Only one item now", "points": 2.0}]


def test_only_the_courses_teachers_and_admins_reach_the_question_pages(school, assignment) -> None:
    question = question_create(assignment=assignment, text="Q", reference_answers=["A"])
    urls = [reverse("grading:question_add", args=[assignment.pk]), reverse("grading:question_edit", args=[question.pk])]
    for url in urls:
        assert client_for(school.other_teacher).get(url).status_code == 404
        assert client_for(school.other_teacher).post(url, _post()).status_code == 404
        assert client_for(school.student).get(url).status_code == 403
        assert client_for(school.admin).get(url).status_code == 200
    question.refresh_from_db()
    assert question.text == "Q" and Question.objects.count() == 1
