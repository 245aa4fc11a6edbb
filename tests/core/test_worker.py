"""A task enqueued by a request runs on a real Celery worker process, over the configured broker
(Redis in CI), against the test database, and stores its result."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from core.models import Job
from tests.conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    log = open(ROOT / "var" / "test-worker.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "config",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--queues",
            "default",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_system_check_requested_on_a_page_runs_on_the_worker(celery_worker_process, school) -> None:
    client = client_for(school.admin)
    response = client.post(reverse("core:system_check"))
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("core:job_detail", args=[job.pk])

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            break
        assert celery_worker_process.poll() is None, (ROOT / "var" / "test-worker.log").read_text()[-3000:]
        time.sleep(0.5)

    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)
    assert job.result["database"] == connection.vendor
    assert job.result["database_answers"] is True
    assert job.worker != ""
    assert job.progress == job.total == 2

    # The job page shows the stored result, and its htmx poll stops (286) now that it is finished.
    page = client.get(reverse("core:job_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert page.status_code == 286
    assert 'data-status="succeeded"' in page.content.decode()
