"""The first run in Chromium (issue 17, item 1): while the first grader is prepared the teacher's assignment page
shows its progress and asks nobody to run a command; when it is ready the page opens grading by itself.
The charts have titles (item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.models import Job
from core.services import job_progress_set
from grading.models import Grade
from grading.services import grader_first_start
from models_runtime import api as models
from tests.accounts.factories import PASSWORD
from tests.conftest import School
from tests.grading.test_views import answer, make_assignment, make_grade

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_assignment_page_follows_the_first_grader_and_opens_grading(
    school: School, page, grader_artifact_dir: Path
) -> None:
    assignment = make_assignment(school.course, title="Layers")
    answer(assignment.questions.first(), school.student)
    job = grader_first_start(user=school.admin, grade_assignment_ids=[assignment.pk])
    job_progress_set(job=job, progress=40, total=100, message="A quick first grader from 216 sample answers")
    page.set_default_timeout(60_000)
    page.goto("/accounts/login/")
    page.fill("#id_username", school.teacher.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_test_id("dashboard-title").wait_for()

    page.goto(f"/grading/assignments/{assignment.pk}/", wait_until="domcontentloaded")

    expect(page.get_by_test_id("grader-problem")).to_contain_text("The first grader is being prepared (40%)")
    expect(page.get_by_test_id("grader-progress")).to_have_attribute("value", "40")
    expect(page.get_by_test_id("grade-all")).to_be_disabled()
    assert "manage.py" not in page.content()
    # The worker finishes: the grader is active. The page notices and reloads with grading open.
    version = models.version_register(
        name="first",
        base_model="all-MiniLM-L6-v2",
        kind="grader",
        location=str(grader_artifact_dir),
        tasks=["grader"],
        metrics={"quick": True},
    )
    models.version_activate(version=version, task="grader", reason="the quick first grader")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)

    expect(page.get_by_test_id("grade-all")).to_be_enabled(timeout=60_000)
    expect(page.get_by_test_id("grader-problem")).to_have_count(0)


def test_the_charts_have_titles(school: School, page) -> None:
    assignment = make_assignment(school.course, title="Layers")
    first, second, _ = assignment.questions.order_by("position")
    make_grade(answer(first, school.student), status=Grade.Status.APPROVED)
    make_grade(answer(second, school.student), label="incorrect")
    page.set_default_timeout(60_000)
    page.goto("/accounts/login/")
    page.fill("#id_username", school.teacher.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_test_id("dashboard-title").wait_for()

    page.goto(f"/grading/assignments/{assignment.pk}/", wait_until="domcontentloaded")

    for title in ("Labels per question", "Model against teacher", "The model's confidence"):
        expect(page.locator(".gtitle", has_text=title)).to_have_count(1, timeout=60_000)
