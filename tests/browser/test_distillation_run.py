"""Issue 23's journey in Chromium with the real Celery worker: an admin starts a small distillation run (the
tutor task, `tiny`: every step for real on SmolLM2-135M), watches its steps advance on the page, sees the
candidate's held-out figures beside the active version's once it finishes (the page reloads itself), and
promotes it; the tutor is then served by the candidate."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from distillation.models import DistillationRun, Status
from models_runtime import api as models
from tests.browser.test_login import log_in
from tests.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_admin_starts_a_run_watches_it_and_promotes_the_candidate(page, school) -> None:
    before = models.version_for_task("tutor").name
    with celery_worker(env={"MODEL_TORCH_THREADS": "2", "MODEL_SERVER_URL": ""}):
        log_in(page, school.admin.username)
        page.get_by_test_id("dashboard-title").wait_for()
        page.goto("/distillation/")
        page.select_option("select[name=task]", "tutor")
        page.select_option("select[name=config]", "tiny")
        page.fill("input[name=seed]", "4")
        page.get_by_test_id("start").click()
        page.wait_for_url("**/distillation/runs/*/")
        pipeline = page.get_by_test_id("run-pipeline")
        # The steps advance on the page while the worker runs them (htmx polls every 2 s).
        expect(page.locator("[data-testid=step-draft][data-status=succeeded]")).to_be_visible(timeout=240_000)
        expect(pipeline).to_have_attribute("data-status", "succeeded", timeout=600_000)
        comparison = page.get_by_test_id("comparison")
        expect(comparison).to_be_visible(timeout=15_000)  # shown after the page reloaded itself
        run = DistillationRun.objects.get()
        assert run.status == Status.SUCCEEDED and run.candidate_version.startswith("tutor-arte-")
        assert "sacreBLEU" in comparison.inner_text() and run.candidate_version in comparison.inner_text()
        assert models.version_for_task("tutor").name == before  # nothing is promoted automatically

        page.locator("input[name=confirm_worse]").check()
        page.get_by_test_id("promote").click()
        expect(page.get_by_test_id("promoted")).to_contain_text(f"{run.candidate_version} serves the tutor task")
    assert models.version_for_task("tutor").name == run.candidate_version
    assert not page.console_errors
