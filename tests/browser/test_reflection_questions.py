"""Reflection questions end to end in Chromium, with the real Celery worker: a teacher writes a question
with the two-agent dialogue (rounds appear as the page polls), edits and rates it, saves it to the
question bank and assigns it; a student sees it on the dashboard and answers; the teacher reads it.

The worker's model for the task `questions` is a scripted OpenAI-compatible server standing in for a GPU
server (so the test chooses the words and runs in seconds); the real local model is exercised in
tests/coaching/reflection/test_dialogue.py."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from coaching.reflection.dialogue import STOP_SIGNAL
from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment
from tests.browser.test_login import log_in
from tests.coaching.reflection.conftest import CLOSED, GOOD, ScriptedServer
from tests.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

EDITED = "Why does chlorophyll need sunlight, and how would a plant in a dark cupboard change over a week?"
ANSWER = "Without light the chlorophyll cannot make glucose, so the plant uses its stored food and goes pale."


def log_out(page) -> None:
    page.locator("details.dropdown summary").click()
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/accounts/login/")


def test_teacher_generates_edits_saves_assigns_and_a_student_answers(page, school) -> None:
    server = ScriptedServer(drafts=[CLOSED, GOOD], replies=[STOP_SIGNAL]).start()
    env = {
        "MODEL_BACKEND_QUESTIONS": "openai",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_MODEL": "scripted-gpu-stand-in",
        # One draft per round, so the failing first draft is coached in a round of its own (best of n has its
        # own tests in tests/coaching/reflection/test_dialogue.py).
        "REFLECTION_DRAFT_SAMPLES": "1",
    }
    # Two shared CPU cores: the worker's start-up (it imports the model stack) slows the live server.
    page.set_default_timeout(60_000)
    page.set_default_navigation_timeout(60_000)
    try:
        with celery_worker(env=env):
            log_in(page, school.teacher.username)
            page.get_by_test_id("dashboard-title").wait_for()
            page.goto("/coaching/")
            page.get_by_test_id("reflection-link").click()
            page.fill("#id_topic", "Photosynthesis")
            page.fill("#id_concepts", "chlorophyll, sunlight, glucose")
            page.fill("#id_level", "year 7")
            page.fill("#id_max_rounds", "3")
            page.get_by_test_id("generate").click()

            # The page polls the dialogue; both rounds, then the final question, appear without a reload.
            expect(page.get_by_test_id("final-question")).to_have_text(GOOD["question"], timeout=90_000)
            expect(page.get_by_test_id("round")).to_have_count(2)
            expect(page.get_by_test_id("coaching").nth(1)).to_have_text(STOP_SIGNAL)
    finally:
        server.close()

    page.get_by_test_id("edit-text").fill(EDITED)
    page.get_by_test_id("rating").select_option("5")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("bank-question-text")).to_have_text(EDITED)
    due = (timezone.localdate() + datetime.timedelta(days=4)).isoformat()
    page.get_by_test_id("due-at").fill(due)
    page.get_by_test_id("assign").click()
    expect(page.get_by_text(f"due {due}").first).to_be_visible()

    log_out(page)
    log_in(page, school.student.username)
    page.get_by_test_id("dashboard-title").wait_for()
    assigned = page.get_by_test_id("assigned-question")  # loaded into the dashboard by htmx
    expect(assigned).to_contain_text(EDITED)
    assigned.get_by_role("link").click()
    page.get_by_test_id("answer-text").fill(ANSWER)
    page.get_by_test_id("answer-submit").click()
    expect(page.get_by_text("Your answer is saved. Your teacher will read it.")).to_be_visible()

    log_out(page)
    log_in(page, school.teacher.username)
    page.get_by_test_id("dashboard-title").wait_for()
    question = BankQuestion.objects.get()
    page.goto(f"/coaching/questions/bank/{question.pk}/")
    expect(page.get_by_test_id("answer")).to_contain_text(ANSWER)

    dialogue = Dialogue.objects.get()
    assert (dialogue.status, dialogue.stop_reason, dialogue.rounds.count()) == ("finished", "signal", 2)
    assert (question.text, question.generated_text, question.rating) == (EDITED, GOOD["question"], 5)
    assert QuestionAssignment.objects.get().due_at.date().isoformat() == due
    assert Answer.objects.get().student == school.student
    assert page.console_errors == []
