"""An admin uploads SIGHT files in Chromium (a bad file among good ones), a real Celery worker imports
them, the refusal is shown with its reason, and the course and lecture pages show where students were
confused; one click corrects a label."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from datasets_admin.models import Comment, CommentCorrection, Lecture
from datasets_admin.sight_demo import SIGHT_DEMO_DIR
from tests.accounts.factories import AdminFactory
from tests.browser.test_login import log_in

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

VIDEO = "d32WV1rKoVk"  # "12. Computing Eigenvalues and Singular Values", 24 comments


def _comments_for(video: str) -> bytes:
    """SIGHT's own comment rows (space-delimited with quotes) for one lecture."""
    rows = list(csv.reader(io.StringIO((SIGHT_DEMO_DIR / "comments.csv").read_text(encoding="utf-8")), delimiter=" "))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=" ", quotechar='"')
    writer.writerow(rows[0])
    writer.writerows(row for row in rows[1:] if row[1] == video)
    return out.getvalue().encode()


def test_admin_uploads_sight_files_sees_the_refusal_and_reads_course_and_lecture(
    celery_worker_process,  # the real worker, over the real broker (tests/conftest.py)
    live_server,
    page,
    tmp_path,
) -> None:
    admin = AdminFactory()
    files = {
        f"{VIDEO}.txt": (SIGHT_DEMO_DIR / "transcripts" / f"{VIDEO}.txt").read_bytes(),
        f"{VIDEO}.json": (SIGHT_DEMO_DIR / "metadata" / f"{VIDEO}.json").read_bytes(),
        "sight_comments.csv": _comments_for(VIDEO),
        "notes-latin1.txt": "Vorlesung über Eigenwerte".encode("cp1252"),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))

    log_in(page, admin.username)
    page.get_by_test_id("dashboard-title").wait_for()
    page.goto("/datasets/")
    page.get_by_test_id("upload-link").click()
    expect(page.get_by_test_id("size-limit")).to_contain_text("MB per file")
    page.set_input_files("#id_files", paths)
    page.get_by_test_id("upload-submit").click()

    status = page.get_by_test_id("upload-status")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=240_000)
    expect(page.get_by_test_id("upload-summary")).to_contain_text("1 new lecture")
    expect(page.get_by_test_id("upload-summary")).to_contain_text("24 new comments")
    refused = page.get_by_test_id("refused")
    expect(refused).to_contain_text("notes-latin1.txt")
    expect(refused).to_contain_text("is not UTF-8 text")
    expect(refused).to_contain_text("whole file")
    assert Lecture.objects.count() == 1 and Comment.objects.count() == 24

    page.goto("/datasets/")
    page.get_by_test_id("courses").get_by_role("link").first.click()
    expect(page.get_by_test_id("course-title")).to_contain_text("MIT 18.065")
    expect(page.locator("#chart-categories .main-svg").first).to_be_attached()  # plotly drew it
    confusing = page.get_by_test_id("confusing-lectures")
    expect(confusing).to_contain_text("12. Computing Eigenvalues and Singular Values")
    confusing.get_by_role("link").first.click()

    expect(page.get_by_test_id("lecture-title")).to_have_text("12. Computing Eigenvalues and Singular Values")
    marked = page.get_by_test_id("confused-passage")
    linked = Comment.objects.filter(passage__isnull=False)
    expect(marked).to_have_count(len(set(linked.values_list("passage_id", flat=True))))
    expect(marked.first.get_by_test_id("linked-comment").first).to_be_visible()

    comment = Comment.objects.order_by("pk").first()
    chip = page.get_by_test_id(f"labels-{comment.pk}").locator("button[data-category=bookmark]")
    was_on = "bookmark" in comment.categories
    chip.click()
    expect(page.get_by_test_id(f"labels-{comment.pk}").locator("button[data-category=bookmark]")).to_have_attribute(
        "aria-pressed", "false" if was_on else "true"
    )
    comment.refresh_from_db()
    assert ("bookmark" in comment.categories) is (not was_on)
    assert CommentCorrection.objects.get().category == "bookmark"
    assert page.console_errors == []
