"""The Models page in a real browser: an admin compares versions and activates one, confirming a worse one."""

from __future__ import annotations

from pathlib import Path

import pytest

from models_runtime.models import ActivationRecord, ActiveModel
from models_runtime.registry import version_activate, version_register
from tests.browser.test_login import log_in
from tests.conftest import School

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def grader_version(tmp_path: Path, name: str, accuracy: float):
    (tmp_path / name).mkdir()
    return version_register(
        name=name,
        base_model="all-MiniLM-L6-v2",
        kind="grader",
        location=str(tmp_path / name),
        tasks=["grader"],
        metrics={"primary": "accuracy", "heldout": {"accuracy": accuracy}},
    )


def test_admin_activates_a_better_version_and_confirms_a_worse_one(page, school: School, tmp_path: Path) -> None:
    first = grader_version(tmp_path, "grader-first", 0.80)
    better = grader_version(tmp_path, "grader-better", 0.88)
    worse = grader_version(tmp_path, "grader-worse", 0.71)
    version_activate(version=first, task="grader", reason="first one")

    log_in(page, school.admin.username)
    page.goto("/models/")
    versions = page.get_by_test_id("version-table")
    assert "0.880" in versions.locator("tr[data-version='grader-better']").inner_text()
    assert "0.710" in versions.locator("tr[data-version='grader-worse']").inner_text()

    # A better version: activated at once, and the task table says so.
    row = versions.locator("tr[data-version='grader-better']")
    row.locator("input[name=reason]").fill("higher held-out accuracy")
    row.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/models/")
    assert "grader-better" in page.get_by_test_id("task-table").inner_text()
    assert ActiveModel.objects.get(task="grader").version == better

    # A worse one: the page asks first; cancelling changes nothing, confirming activates it.
    row = page.get_by_test_id("version-table").locator("tr[data-version='grader-worse']")
    row.locator("input[name=reason]").fill("trying it on one course")
    row.get_by_role("button", name="Activate").click()
    confirm = page.get_by_test_id("confirm-activation")
    assert "grader-worse" in confirm.inner_text()
    confirm.get_by_role("button", name="Cancel").click()
    page.wait_for_url("**/models/")
    assert ActiveModel.objects.get(task="grader").version == better

    row = page.get_by_test_id("version-table").locator("tr[data-version='grader-worse']")
    row.locator("input[name=reason]").fill("trying it on one course")
    row.get_by_role("button", name="Activate").click()
    page.get_by_role("button", name="Activate grader-worse anyway").click()
    page.wait_for_url("**/models/")
    assert "grader-worse" in page.get_by_test_id("task-table").inner_text()
    record = ActivationRecord.objects.filter(task="grader").latest("activated_at")
    assert (record.version, record.previous_version, record.was_confirmed_despite_worse_metrics) == (
        worse,
        better,
        True,
    )
    # The confirmation page is answered with 409 Conflict (the activation did not happen); Chromium logs
    # that status, and nothing else may be logged (no CSP violation, no script error).
    assert [error for error in page.console_errors if "409 (Conflict)" not in error] == []
