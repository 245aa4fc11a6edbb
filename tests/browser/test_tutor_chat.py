"""A student solves a problem with the tutor in the browser (on a phone), and the teacher reads it.

The real model writes the replies (a few tokens each); the reply streams over server-sent events
through htmx's SSE extension into the page.
"""

from __future__ import annotations

import html
import re

import pytest
from django.core.cache import cache

from tests.browser.test_login import log_in
from tests.conftest import School
from tests.tutor.factories import ProblemFactory
from tutor.models import Turn, TutorSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 120_000  # ms: the model shares two CPU cores with everything else


def send(page, text: str) -> None:
    page.get_by_test_id("message-input").fill(text)
    page.get_by_test_id("send").click()


def wait_for_replies(page, count: int) -> None:
    page.locator('[data-speaker="tutor"][data-status="complete"]').nth(count - 1).wait_for(timeout=REPLY_TIMEOUT)


def test_student_solves_a_problem_with_the_tutor_and_the_teacher_sees_it(
    browser, live_server, school: School, settings
) -> None:
    settings.TUTOR_MAX_NEW_TOKENS = 6
    cache.clear()
    ProblemFactory(course=school.course, title="Julia's spoons")

    phone = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740}, is_mobile=True)
    page = phone.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, school.student.username)
    page.get_by_test_id("dashboard-title").wait_for()
    page.goto("/tutor/")
    page.get_by_test_id("start").click()
    page.get_by_test_id("session-title").wait_for()
    assert "Julia" in page.get_by_test_id("problem-statement").inner_text()

    # Count the server-sent events the page receives: the reply arrives over the stream.
    page.evaluate(
        "window.tutorEvents = []; window.tutorPieces = [];"
        "document.addEventListener('htmx:sseMessage', e => {"
        "  window.tutorEvents.push(e.detail.type);"
        "  if (e.detail.type === 'piece') window.tutorPieces.push(e.detail.data);"
        "});"
    )
    send(page, "I got 4 because 12 - 3 = 9 and 9 - 5 = 4")
    page.locator('[data-speaker="student"]').first.wait_for()
    assert page.get_by_test_id("send").is_disabled()  # one reply at a time
    wait_for_replies(page, 1)
    # Pieces of the model's text as it was written (the `done` swap replaces the bubble itself).
    assert "piece" in page.evaluate("window.tutorEvents")
    first_reply = page.locator('[data-speaker="tutor"]').first.get_by_test_id("turn-text").inner_text()
    # The first reply meets the solution where it goes wrong (their 9), not with a bare "walk me through".
    assert "Can you tell me how you got 9?" in first_reply
    # What streamed is what is stored: the pieces add up to the reply the page now shows.
    streamed = html.unescape("".join(page.evaluate("window.tutorPieces")))
    assert streamed == first_reply.strip() == Turn.objects.filter(speaker="tutor").get().text
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # fits the phone

    send(page, "Oh, she used them, so 12 + 3 = 15 and 15 - 5 = 10 spoons")
    wait_for_replies(page, 2)
    confirmation = page.locator('[data-speaker="tutor"]').nth(1).get_by_test_id("turn-text").inner_text()
    # The confirmation says yes, names the answer, and does not take it back ("No, 10 is not correct, well done.").
    assert "10" in confirmation
    assert re.search(r"\b(?:yes|correct|right|well done)\b", confirmation, re.IGNORECASE), confirmation
    assert not re.search(r"\b(?:no|not|incorrect|wrong)\b|n't\b", confirmation, re.IGNORECASE), confirmation
    assert page.get_by_test_id("session-status").get_attribute("data-status") == "solved"
    assert "Solved" in page.get_by_test_id("session-status").inner_text()
    assert "You solved it" in page.get_by_test_id("solved-message").inner_text()
    assert errors == []
    phone.close()

    session = TutorSession.objects.get()
    assert session.status == TutorSession.Status.SOLVED
    assert list(session.turns.values_list("speaker", "status")) == [
        ("student", "complete"),
        ("tutor", "complete"),
        ("student", "complete"),
        ("tutor", "complete"),
    ]
    assert Turn.objects.filter(speaker="tutor", provenance__model_version="smollm2-135m-instruct").count() == 2

    desk = browser.new_context(base_url=live_server.url)
    teacher = desk.new_page()
    log_in(teacher, school.teacher.username)
    teacher.get_by_test_id("dashboard-title").wait_for()
    teacher.goto("/tutor/dashboard/")
    assert teacher.get_by_test_id("solved-rate").inner_text() == "100%"
    teacher.get_by_test_id("open-sessions").click()
    teacher.get_by_test_id("session-row").first.get_by_role("link").click()
    teacher.get_by_test_id("transcript").wait_for()
    assert teacher.get_by_test_id("turn").count() == 4
    assert teacher.get_by_test_id("move").all_inner_texts() == ["generic", "generic"]
    assert "Solved" in teacher.get_by_test_id("session-status").inner_text()
    desk.close()
