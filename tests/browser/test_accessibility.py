"""Accessibility as a habit (issue 17, item 6): axe-core finds no serious or critical violation on the pages
of the grading, tutoring and coaching journeys, the chat is announced to screen readers, and the grading
journey works with the keyboard alone (log in, answer, review, release)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from grading.models import Grade
from tests.accounts.factories import PASSWORD
from tests.browser.axe import axe_check, axe_install
from tests.conftest import School
from tests.grading.test_views import answer, make_assignment, make_grade
from tests.tutor.factories import ProblemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in_with_the_keyboard(page, username: str) -> None:
    page.set_default_timeout(60_000)  # axe's 650 kB script is parsed on every page of a 2-core test machine
    page.goto("/accounts/login/")
    page.locator("#id_username").focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_test_id("dashboard-title").wait_for()


def _open(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.locator("main h1").first.wait_for()


def _tab_to(page, selector: str, *, limit: int = 80) -> None:
    """Press Tab until the element is focused, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was never reached with Tab")


def test_the_journeys_pass_axe_and_work_with_the_keyboard(school: School, page) -> None:
    assignment = make_assignment(school.course, title="Layers")
    first, second, third = assignment.questions.order_by("position")
    make_grade(answer(first, school.student), status=Grade.Status.RELEASED)
    waiting = make_grade(answer(second, school.student), label="incorrect", feedback="Not correct yet.")
    problem = ProblemFactory(course=school.course, is_assigned=True)
    axe_install(page)

    # The student: dashboard, their answers and grades; answering with the keyboard only.
    _log_in_with_the_keyboard(page, school.student.username)
    expect(page.get_by_test_id("grading-attention")).to_contain_text("1 new grade in “Layers”", timeout=60_000)
    axe_check(page, "student dashboard")
    _open(page, "/grading/")
    axe_check(page, "student grading page")
    _tab_to(page, f"#question-{third.pk} textarea")
    page.keyboard.type("The physical layer sends bits.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(f"#question-{third.pk} [data-testid=saved-note]")).to_contain_text(
        "Saved just now.", timeout=60_000
    )
    _open(page, "/tutor/")
    expect(page.get_by_text(problem.title)).to_be_visible()
    axe_check(page, "student tutor page")
    page.context.clear_cookies()  # the next person on this browser

    # The teacher: dashboard, assignment, review queue with the keyboard, release; tutoring and coaching pages.
    _log_in_with_the_keyboard(page, school.teacher.username)
    expect(page.get_by_test_id("grading-attention")).to_contain_text(
        "grade awaiting review in “Layers”", timeout=60_000
    )
    axe_check(page, "teacher dashboard")
    _open(page, f"/grading/assignments/{assignment.pk}/")
    axe_check(page, "assignment page")
    _open(page, f"/grading/assignments/{assignment.pk}/review/?status=awaiting_review")
    axe_check(page, "review queue")
    page.locator("[data-grade-card]").first.wait_for()
    page.keyboard.press("j")
    expect(page.locator(f"#grade-{waiting.pk}")).to_be_focused(timeout=60_000)
    page.keyboard.press("a")
    expect(page.locator(f"#grade-{waiting.pk} [data-testid=status]")).to_have_text("Approved", timeout=60_000)
    axe_check(page, "review queue after accepting")
    _open(page, "/tutor/sessions/")
    axe_check(page, "tutoring sessions")
    _open(page, "/coaching/")
    axe_check(page, "coaching page")


def test_the_chat_transcript_is_announced_to_screen_readers(school: School, page) -> None:
    from tutor.services import session_start

    problem = ProblemFactory(course=school.course, is_assigned=True)
    session, _ = session_start(problem=problem, student=school.student)
    axe_install(page)
    _log_in_with_the_keyboard(page, school.student.username)

    _open(page, f"/tutor/sessions/{session.pk}/")

    expect(page.get_by_test_id("transcript")).to_have_attribute("aria-live", "polite")
    axe_check(page, "tutor session")


def test_stopping_a_problem_asks_first(school: School, page) -> None:
    from tutor.models import TutorSession
    from tutor.services import session_start

    session, _ = session_start(problem=ProblemFactory(course=school.course, is_assigned=True), student=school.student)
    _log_in_with_the_keyboard(page, school.student.username)
    _open(page, f"/tutor/sessions/{session.pk}/")
    asked: list[str] = []

    def dismiss(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_test_id("end-session").click()
    page.wait_for_timeout(500)  # a dismissed confirmation posts nothing; give a wrong post the time to land

    session.refresh_from_db()
    assert asked and asked[0].startswith("Stop working on this problem?")
    assert session.status == TutorSession.Status.OPEN
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("end-session").click()
    for _ in range(120):  # the post lands when the page has navigated
        page.wait_for_timeout(500)
        session.refresh_from_db()
        if session.status != TutorSession.Status.OPEN:
            break
    assert session.status == TutorSession.Status.ABANDONED


def test_the_chat_counts_characters_and_refuses_a_long_message_without_cutting_it(school: School, page) -> None:
    from tutor.models import Turn
    from tutor.services import MAX_MESSAGE_CHARS, session_start

    session, _ = session_start(problem=ProblemFactory(course=school.course, is_assigned=True), student=school.student)
    turns_before = Turn.objects.filter(session=session).count()
    _log_in_with_the_keyboard(page, school.student.username)
    _open(page, f"/tutor/sessions/{session.pk}/")
    long_text = "I tried 15 - 5. " * 140  # 2,240 characters, pasted at once

    page.get_by_test_id("message-input").fill(long_text)

    expect(page.get_by_test_id("message-count")).to_have_text(
        f"2,240 / {MAX_MESSAGE_CHARS:,} characters: 240 too many, shorten it to send"
    )
    page.get_by_test_id("send").click()
    page.wait_for_timeout(500)  # a refused message posts nothing
    assert page.get_by_test_id("message-input").input_value() == long_text  # nothing cut
    assert Turn.objects.filter(session=session).count() == turns_before
    page.get_by_test_id("message-input").fill("I tried 15 - 5.")
    expect(page.get_by_test_id("message-count")).to_have_text(f"15 / {MAX_MESSAGE_CHARS:,} characters")
