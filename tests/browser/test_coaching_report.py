"""Coaching end to end in Chromium: the demo teacher reads the seeded report, jumps from a quote to its line,
uploads a WebVTT and a text transcript of their own, confirms the speakers, and reads each report when the
real worker (models queue, real MiniLM and SmolLM2) has made it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from coaching.models import Transcript
from core.models import Job
from datasets_admin.demo import DEMO_PASSWORD, demo_seed
from tests.browser.test_login import log_in
from tests.coaching.conftest import LESSON_TEXT, lesson_vtt

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPORT_TIMEOUT = 420_000  # ms: a bound for the worker's first model loads on a busy machine, not a speed claim


def _upload_and_confirm(page, *, name: str, data: bytes, title: str, teacher: str) -> None:
    page.goto("/coaching/")
    page.set_input_files("input[type=file]", files=[{"name": name, "mimeType": "text/plain", "buffer": data}])
    page.fill("input[name=title]", title)
    page.get_by_test_id("upload-submit").click()
    expect(page.get_by_role("heading", name="Who is the teacher?")).to_be_visible()
    expect(page.locator(f"input[name=teacher_speakers][value='{teacher}']")).to_be_checked()  # guessed
    page.get_by_test_id("speakers-confirm").click()
    expect(page.get_by_test_id("report-title")).to_have_text(title)


def _read_report(page) -> None:
    expect(page.get_by_test_id("suggestions-list")).to_be_visible(timeout=REPORT_TIMEOUT)
    expect(page.get_by_test_id("report-stats")).to_be_visible()
    lines = page.get_by_test_id("utterance")
    expect(lines.first).to_be_visible()
    expect(page.locator("#chart-moves .main-svg").first).to_be_attached()  # plotly drew


def test_demo_teacher_reads_the_demo_report_then_uploads_vtt_and_text(page, request) -> None:
    demo_seed()
    # The seed also queues the grader's first training on the models queue; this test is about coaching.
    Job.objects.filter(status=Job.Status.QUEUED).exclude(kind__startswith="coaching").update(
        status=Job.Status.CANCELLED
    )
    request.getfixturevalue("celery_worker_process")
    demo = Transcript.objects.get(is_demo=True)

    log_in(page, "teacher", DEMO_PASSWORD)
    page.get_by_test_id("dashboard-title").wait_for()
    page.goto("/coaching/")
    page.get_by_role("link", name=demo.title).click()
    expect(page.get_by_test_id("report-title")).to_have_text(demo.title)
    suggestions = page.get_by_test_id("suggestions-list").locator(".moment")
    expect(suggestions).to_have_count(len(demo.report.suggestions))
    assert suggestions.count() >= 3
    first = page.get_by_test_id("highlights-list").get_by_test_id("line-link").first
    line = first.inner_text().removeprefix("line ")
    first.click()
    expect(page).to_have_url(re.compile(rf"#line-{line}$"))
    expect(page.locator(f"#line-{line}")).to_be_in_viewport()
    expect(page.locator(f"#line-{line} .utterance-note")).to_be_visible()  # the line's analysis shows
    expect(page.locator("#chart-timeline .main-svg").first).to_be_attached()

    _upload_and_confirm(
        page, name="fractions.vtt", data=lesson_vtt().encode(), title="Fractions (Zoom)", teacher="Teacher"
    )
    _read_report(page)
    expect(page.get_by_test_id("transcript").locator(".time").first).to_have_text("0:00")

    text = LESSON_TEXT.replace("Teacher:", "Ms. Rivera:").encode()
    _upload_and_confirm(page, name="fractions.txt", data=text, title="Fractions (notes)", teacher="Ms. Rivera")
    _read_report(page)

    page.goto("/coaching/trends/")
    expect(page.get_by_test_id("trends-table").locator("tbody tr")).to_have_count(3)
    assert not page.console_errors, page.console_errors
