"""The review queue end to end in Chromium: a teacher reviews with the keyboard and htmx, releases, and a
student reads their own released feedback and nobody else's."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from datasets_admin.demo import DEMO_PASSWORD, demo_seed
from grading.models import Assignment, Grade, Submission
from grading.services import submissions_grade
from tests.browser.test_login import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FEEDBACK = "Name the layer that frames the bits, then say why."


def _card_student(page, grade_id: int) -> str:
    return page.locator(f"#grade-{grade_id} [data-testid=student]").inner_text().strip()


@pytest.mark.usefixtures("active_grader")
def test_teacher_reviews_with_keyboard_and_htmx_then_student_reads_released_feedback(
    browser, live_server, page
) -> None:
    demo_seed()
    submissions_grade(submissions=list(Submission.objects.filter(is_current=True)), include_feedback=False)
    assignment = Assignment.objects.get()

    log_in(page, "teacher", DEMO_PASSWORD)
    page.get_by_test_id("dashboard-title").wait_for()
    page.goto(f"/grading/assignments/{assignment.pk}/review/")
    cards = page.get_by_test_id("grade-card")
    expect(cards).to_have_count(12)
    ids = [int(card_id.removeprefix("grade-")) for card_id in cards.evaluate_all("cards => cards.map(c => c.id)")]
    page.evaluate("window.reviewMarker = 'still here'")  # gone if anything reloads the page

    # j focuses the first (least confident) card; a accepts it, swapping only that card.
    first = ids[0]
    page.keyboard.press("j")
    expect(page.locator(f"#grade-{first}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("a")
    expect(page.locator(f"#grade-{first} [data-testid=status]")).to_have_text("Approved")
    expect(page.locator(f"#grade-{first}")).to_be_focused()

    # Another student's card: override its label through the select and the button.
    accepted_student = _card_student(page, first)
    others = [grade_id for grade_id in ids[1:] if _card_student(page, grade_id) != accepted_student]
    overridden = others[0]
    # The feedback goes to a third student, so that each released grade belongs to someone else.
    overridden_student = _card_student(page, overridden)
    edited = next(grade_id for grade_id in others if _card_student(page, grade_id) != overridden_student)
    card = page.locator(f"#grade-{overridden}")
    current = card.get_by_test_id("override-label").input_value()
    new_label = "incorrect" if current != "incorrect" else "correct"
    card.get_by_test_id("override-label").select_option(new_label)
    card.get_by_test_id("override").click()
    expect(page.locator(f"#grade-{overridden} [data-testid=label]")).to_have_text(
        "Incorrect" if new_label == "incorrect" else "Correct"
    )
    expect(page.locator(f"#grade-{overridden} [data-testid=status]")).to_have_text("Overridden")

    # Edit a feedback inline: e opens the textarea of the current card.
    page.locator(f"#grade-{edited}").click(position={"x": 5, "y": 5})
    page.keyboard.press("e")
    textarea = page.locator(f"#grade-{edited} [data-testid=feedback-input]")
    expect(textarea).to_be_focused()
    textarea.fill(FEEDBACK)
    page.locator(f"#grade-{edited} [data-testid=save-and-accept]").click()
    expect(page.locator(f"#grade-{edited} [data-testid=feedback]")).to_have_text(FEEDBACK)
    assert page.evaluate("window.reviewMarker") == "still here"

    # Filters apply on change and swap only the list (the form is htmx-boosted).
    page.locator("#id_status").select_option("approved")
    expect(cards).to_have_count(2)
    expect(page.locator(f"#grade-{first}")).to_be_visible()
    expect(page.locator(f"#grade-{edited}")).to_be_visible()
    assert "status=approved" in page.url
    assert page.evaluate("window.reviewMarker") == "still here"

    # ? shows the shortcuts.
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    page.keyboard.press("Escape")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("release").click()
    expect(page.locator(".messages")).to_contain_text("Released 3 grades to students.")
    assert page.console_errors == []
    assert Grade.objects.filter(status=Grade.Status.RELEASED).count() == 3

    # The student whose feedback was edited reads it, and nothing of the other students.
    edited_grade = Grade.objects.select_related("submission__student").get(pk=edited)
    student = edited_grade.submission.student
    others_answers = [
        grade.submission.answer_text
        for grade in Grade.objects.select_related("submission").filter(status=Grade.Status.RELEASED)
        if grade.submission.student_id != student.pk
    ]
    own_answers = set(Submission.objects.filter(student=student).values_list("answer_text", flat=True))
    context = browser.new_context(base_url=live_server.url)
    student_page = context.new_page()
    log_in(student_page, student.username, DEMO_PASSWORD)
    student_page.get_by_test_id("dashboard-title").wait_for()
    student_page.goto("/grading/")
    released = student_page.get_by_test_id("released-grade")
    expect(released).to_have_count(1)
    expect(released.get_by_test_id("feedback")).to_contain_text(FEEDBACK)
    text = student_page.locator("main").inner_text()
    for other in others_answers:
        if other not in own_answers:
            assert other[:60] not in text
    context.close()
