"""Accessibility beyond the three journeys' first pages (issue 17, item 6): axe-core finds no serious or
critical violation on the coaching report, the data set pages and the admin's pages, each works with the
keyboard alone, and every journey's main pages pass axe on a 390 px phone without the page itself scrolling
sideways (wide tables scroll inside their own box).

One demo school (the seed, and the shipped SIGHT lectures) serves every test of the module; no worker runs,
so the jobs the seed queues stay queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from coaching.models import Transcript
from core.models import Job
from datasets_admin.demo import DEMO_PASSWORD, demo_seed
from datasets_admin.models import Lecture
from datasets_admin.sight_demo import sight_demo_seed
from grading.models import Assignment
from tests.browser.axe import axe_check, axe_install
from tutor.models import Problem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db: None) -> dict[str, Any]:
    demo_seed()
    sight_demo_seed()
    Job.objects.filter(status=Job.Status.QUEUED).update(status=Job.Status.CANCELLED)  # no worker in these tests
    lecture = Lecture.objects.select_related("course").order_by("pk").first()
    assert lecture is not None
    return {
        "assignment": Assignment.objects.order_by("pk").first(),
        "transcript": Transcript.objects.get(is_demo=True),
        "lecture": lecture,
        "problem": Problem.objects.filter(is_assigned=True).order_by("pk").first(),
        "job": Job.objects.order_by("created_at").first(),
    }


def _log_in_with_the_keyboard(page: Any, username: str) -> None:
    page.set_default_timeout(60_000)  # axe's 650 kB script is parsed on every page of a 2-core test machine
    page.goto("/accounts/login/")
    page.locator("#id_username").focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_test_id("dashboard-title").wait_for()


def _open(page: Any, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.locator("main h1").first.wait_for()


def _tab_to(page: Any, selector: str, *, limit: int = 120) -> None:
    """Press Tab until the element is focused, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was never reached with Tab")


def _no_sideways_page_scroll(page: Any, where: str) -> None:
    """On a phone the page itself never scrolls sideways: what is wider scrolls inside its own box."""
    widths = page.evaluate(
        "() => ({page: document.scrollingElement.scrollWidth, screen: window.innerWidth,"
        " wide: [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right >"
        f" {PHONE['width']} + 1 && !e.closest('.table-wrap, pre, .js-plotly-plot, .visually-hidden'))"
        ".slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')"
        " + (e.dataset.testid ? '[' + e.dataset.testid + ']' : ''))})"
    )
    assert widths["screen"] == PHONE["width"], f"{where}: laid out wider than a phone: {widths}"
    assert widths["page"] <= widths["screen"] + 1, f"{where}: the page scrolls sideways on a phone: {widths}"


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


def test_the_coaching_report_passes_axe_and_its_lines_are_reached_with_the_keyboard(page, demo) -> None:
    axe_install(page)
    _log_in_with_the_keyboard(page, "teacher")
    _open(page, "/coaching/")
    axe_check(page, "coaching page")
    _tab_to(page, f"a[href$='/coaching/transcripts/{demo['transcript'].pk}/']")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("report-title")).to_have_text(demo["transcript"].title)
    expect(page.get_by_test_id("suggestions-list")).to_be_visible()
    axe_check(page, "coaching report")

    _tab_to(page, "[data-testid=highlights-list] [data-testid=line-link]")
    line = page.evaluate("() => document.activeElement.getAttribute('href')").removeprefix("#line-")
    page.keyboard.press("Enter")
    expect(page.locator(f"#line-{line}")).to_be_in_viewport()

    _open(page, "/coaching/trends/")
    axe_check(page, "coaching trends")


def test_the_data_set_and_admin_pages_pass_axe_and_work_with_the_keyboard(page, demo) -> None:
    lecture = demo["lecture"]
    axe_install(page)
    _log_in_with_the_keyboard(page, "admin")
    axe_check(page, "admin dashboard")

    _open(page, "/datasets/")
    axe_check(page, "data sets")
    _tab_to(page, "[data-testid=upload-link]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("size-limit")).to_contain_text("MB per file")
    axe_check(page, "data set upload")

    _open(page, "/datasets/")
    _tab_to(page, f"[data-testid=courses] a[href$='/datasets/courses/{lecture.course.code}/']")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("course-title")).to_be_visible()
    axe_check(page, "lecture course")
    _open(page, f"/datasets/lectures/{lecture.pk}/")
    axe_check(page, "lecture")
    _open(page, "/datasets/classifier/")
    axe_check(page, "comment classifier")

    for url, where in [
        ("/models/", "models"),
        ("/system/", "system"),
        ("/privacy/", "privacy"),
        ("/privacy/audit/", "audit log"),
        (f"/jobs/{demo['job'].pk}/", "job page"),
        ("/tutor/dashboard/", "tutor figures"),
    ]:
        _open(page, url)
        axe_check(page, where)


@pytest.mark.parametrize(
    ("username", "pages"),
    [
        ("ada", ["/", "/grading/", "/tutor/", "{session}", "/coaching/questions/assigned/"]),
        (
            "teacher",
            [
                "/",
                "/grading/",
                "/grading/assignments/{assignment}/",
                "/grading/assignments/{assignment}/review/",
                "/tutor/",
                "/tutor/sessions/",
                "/coaching/",
                "/coaching/transcripts/{transcript}/",
            ],
        ),
        ("admin", ["/", "/models/", "/datasets/", "/datasets/lectures/{lecture}/", "/system/", "/privacy/"]),
    ],
)
def test_every_journeys_main_pages_pass_axe_on_a_phone(phone, demo, username: str, pages: list[str]) -> None:
    from accounts.models import User
    from tutor.services import session_start

    session, _ = session_start(problem=demo["problem"], student=User.objects.get(username="ada"))
    values = {
        "assignment": demo["assignment"].pk,
        "transcript": demo["transcript"].pk,
        "lecture": demo["lecture"].pk,
        "session": f"/tutor/sessions/{session.pk}/",
    }
    axe_install(phone)
    _log_in_with_the_keyboard(phone, username)
    for template in pages:
        url = template.format(**values)
        _open(phone, url)
        axe_check(phone, f"{url} on a phone")
        _no_sideways_page_scroll(phone, f"{url} on a phone")


def test_the_tutoring_journey_works_with_the_keyboard_alone(page, demo, settings) -> None:
    """A student starts an assigned problem and sends a message without the mouse; the reply is the
    policy's own text (the model is switched off: this test is about the keyboard, not the model)."""
    from tutor.models import Turn

    settings.TUTOR_USE_MODEL = False
    problem = demo["problem"]
    axe_install(page)
    _log_in_with_the_keyboard(page, "ada")
    expect(page.get_by_test_id("tutor-notices")).to_contain_text("new tutor problem", timeout=60_000)
    _tab_to(page, "[data-testid=tutor-notices] a")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("tutor-title")).to_be_visible()
    _tab_to(page, f"form[action$='/tutor/problems/{problem.pk}/start/'] button")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("session-title")).to_have_text(problem.title)
    axe_check(page, "tutor session")

    _tab_to(page, "[data-testid=message-input]")
    page.keyboard.type("I am not sure where to start.")
    _tab_to(page, "[data-testid=send]")
    page.keyboard.press("Enter")
    student_turns = page.locator("[data-testid=turn][data-speaker=student]")
    expect(student_turns.last).to_contain_text("I am not sure where to start.")
    reply = page.locator("[data-testid=turn][data-speaker=tutor] [data-testid=turn-text]").last
    expect(reply).not_to_be_empty(timeout=120_000)  # the reply streamed into the page
    assert Turn.objects.filter(
        session__problem=problem, speaker="student", text="I am not sure where to start."
    ).exists()
