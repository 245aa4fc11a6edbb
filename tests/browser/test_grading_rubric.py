"""Rubric items in Chromium: the teacher ticks the items an answer meets in the review queue (the score
follows them), releases, and the student reads which items they met."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from datasets_admin.demo import DEMO_PASSWORD, demo_seed
from grading.models import Assignment, Grade, Question, Submission
from grading.services import grades_release, submissions_grade
from tests.browser.axe import axe_check, axe_install
from tests.browser.test_login import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ITEMS = [{"text": "Names the layer that frames the bits", "points": 1}, {"text": "Says why frames help", "points": 1}]


@pytest.mark.usefixtures("active_grader")
def test_teacher_ticks_rubric_items_and_student_sees_them(browser, live_server, page) -> None:
    demo_seed()
    question = Question.objects.order_by("position").first()
    assert question is not None
    question.rubric = ITEMS
    question.max_points = 2
    question.save(update_fields=["rubric", "max_points"])
    submissions = list(Submission.objects.filter(question=question, is_current=True))
    submissions_grade(submissions=submissions, include_feedback=False)
    assignment = Assignment.objects.get()
    grade = Grade.objects.filter(submission__question=question).order_by("pk").first()
    assert grade is not None

    axe_install(page)
    log_in(page, "teacher", DEMO_PASSWORD)
    page.get_by_test_id("dashboard-title").wait_for()
    page.goto(f"/grading/assignments/{assignment.pk}/review/?question={question.pk}")
    expect(page.get_by_test_id("grader-sureness")).to_contain_text("grader now sure on")
    card = page.locator(f"#grade-{grade.pk}")
    boxes = card.get_by_test_id("rubric-item")
    expect(boxes).to_have_count(2)
    boxes.nth(0).check()
    boxes.nth(1).uncheck()
    card.get_by_test_id("rubric-save").click()
    expect(page.locator(f"#grade-{grade.pk} [data-testid=score]")).to_have_text("1 / 2")
    expect(page.locator(f"#grade-{grade.pk} [data-testid=rubric-item]").nth(0)).to_be_checked()
    axe_check(page, "the review queue with rubric items")
    assert page.console_errors == []

    grade.refresh_from_db()
    assert grade.rubric_met == [ITEMS[0]["text"]] and grade.rubric_missed == [ITEMS[1]["text"]]
    teacher = assignment.created_by or assignment.course.teachers.first()
    grades_release(assignment=assignment, user=teacher, question=question, student=grade.submission.student)

    context = browser.new_context(base_url=live_server.url)
    student_page = context.new_page()
    log_in(student_page, grade.submission.student.username, DEMO_PASSWORD)
    student_page.get_by_test_id("dashboard-title").wait_for()
    student_page.goto("/grading/")
    result = student_page.get_by_test_id("rubric-result")
    expect(result.get_by_test_id("rubric-met")).to_contain_text(ITEMS[0]["text"])
    expect(result.get_by_test_id("rubric-missed")).to_contain_text(ITEMS[1]["text"])
    context.close()


def test_teacher_adds_a_question_with_two_rubric_items(live_server, page) -> None:
    demo_seed()
    assignment = Assignment.objects.get()
    before = Question.objects.filter(assignment=assignment).count()

    axe_install(page)
    log_in(page, "teacher", DEMO_PASSWORD)
    page.get_by_test_id("dashboard-title").wait_for()
    page.goto(f"/grading/assignments/{assignment.pk}/")
    page.get_by_test_id("question-add").click()
    expect(page.get_by_test_id("question-form-title")).to_have_text("Add a question")
    page.get_by_label("Question", exact=True).fill("Why does the data link layer put bits into frames?")
    page.get_by_label("Max points").fill("2")
    rows = page.get_by_test_id("rubric-row")
    rows.nth(0).get_by_test_id("rubric-text").fill("Names error detection per frame")
    rows.nth(0).get_by_test_id("rubric-points").fill("1")
    second = "Says frames let the receiver find where data starts"
    rows.nth(1).get_by_test_id("rubric-text").fill(second)
    # No reference answer yet: refused at its field, what was typed is kept.
    page.get_by_test_id("question-save").click()
    expect(page.get_by_test_id("field-error-reference_answers")).to_contain_text("at least one reference answer")
    expect(rows.nth(1).get_by_test_id("rubric-text")).to_have_value(second)
    axe_check(page, "the question form with a field error")
    page.get_by_label("Reference answer").fill("Frames let the receiver detect errors and find the data's bounds.")
    page.get_by_test_id("question-save").click()

    expect(page.get_by_test_id("assignment-title")).to_be_visible()
    question = Question.objects.filter(assignment=assignment).order_by("-position").first()
    assert question is not None and Question.objects.filter(assignment=assignment).count() == before + 1
    assert question.rubric == [
        {"text": "Names error detection per frame", "points": 1.0},
        {"text": second, "points": 1.0},
    ]
    shown = page.locator(f"#question-{question.pk}")
    shown.locator("summary").click()
    expect(shown.get_by_test_id("question-rubric")).to_contain_text("Names error detection per frame")
    axe_check(page, "the assignment page with a new question")
    # The refused save answered 400 on purpose; nothing else may log an error.
    assert [error for error in page.console_errors if "400 (Bad Request)" not in error] == []
    assert len(page.console_errors) == 1
