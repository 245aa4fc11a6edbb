"""Issue 16, item 3: jobs whose worker died recover, a task that keeps failing ends `failed` after
JOB_MAX_ATTEMPTS with its error shown, an unreachable broker is a clear message that leaves no
`queued` row, and the admin's pages say when no worker has been seen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import Celery
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from core.errors import ConflictError
from core.models import Job, WorkerHeartbeat
from core.services import (
    BROKER_UNREACHABLE_MESSAGE,
    BrokerUnavailableError,
    job_claim,
    job_create,
    job_recover_stale,
    job_run,
    worker_heartbeat_record,
)
from core.tasks import system_check_task
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db

# A real Celery app whose broker does not answer (nothing listens on port 9).
unreachable_app = Celery("unreachable", set_as_current=False)
# The write URL: Celery lets the CELERY_BROKER_URL environment variable override `broker_url`.
unreachable_app.conf.broker_write_url = "redis://127.0.0.1:9/0"
unreachable_app.conf.broker_connection_timeout = 1


@unreachable_app.task(name="tests.unreachable_task")
def unreachable_task(job_id: str) -> None:
    raise AssertionError("never delivered")


def _running(*, seconds_since_heartbeat: float, attempts: int = 1, unique_key: str = "") -> Job:
    beat = timezone.now() - timedelta(seconds=seconds_since_heartbeat)
    return Job.objects.create(
        kind="test",
        title="Grading",
        status=Job.Status.RUNNING,
        task_name=system_check_task.name,
        attempts=attempts,
        started_at=beat,
        heartbeat_at=beat,
        worker="dead-host:123",
        unique_key=unique_key,
    )


STALE = settings.JOB_STALE_SECONDS + 5


def test_the_claim_takes_a_redelivered_running_job_whose_heartbeat_is_stale() -> None:
    job = _running(seconds_since_heartbeat=STALE)
    claimed = job_claim(job_id=str(job.pk))
    assert claimed is not None
    assert claimed.status == Job.Status.RUNNING
    assert claimed.attempts == 2
    assert claimed.worker != "dead-host:123"
    assert claimed.heartbeat_at is not None and claimed.heartbeat_at > job.heartbeat_at


def test_the_claim_leaves_a_running_job_whose_worker_is_alive() -> None:
    job = _running(seconds_since_heartbeat=1)
    assert job_claim(job_id=str(job.pk)) is None
    job.refresh_from_db()
    assert (job.attempts, job.worker) == (1, "dead-host:123")


def test_a_stale_running_job_is_requeued_with_a_message(django_capture_on_commit_callbacks) -> None:
    job = _running(seconds_since_heartbeat=STALE)
    with django_capture_on_commit_callbacks() as callbacks:
        assert job_recover_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert (
        job.message == f"Requeued: its worker (dead-host:123) stopped; attempt 2 of {settings.JOB_MAX_ATTEMPTS} next."
    )
    assert len(callbacks) == 1  # its message is sent again once the requeue commits


def test_a_stale_job_without_heartbeat_counts_from_its_start() -> None:
    job = _running(seconds_since_heartbeat=STALE)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=None)
    assert job_recover_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_a_job_whose_worker_died_every_time_ends_failed_with_a_message(school: School) -> None:
    job = _running(seconds_since_heartbeat=STALE, attempts=settings.JOB_MAX_ATTEMPTS)
    assert job_recover_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.message == f"Failed after {settings.JOB_MAX_ATTEMPTS} attempts."
    assert job.error.startswith(f"The worker running this job stopped without finishing it {job.attempts} times")
    assert job.finished_at is not None


def test_a_dead_workers_job_no_longer_blocks_a_new_job_of_its_kind() -> None:
    stale = _running(seconds_since_heartbeat=STALE, attempts=settings.JOB_MAX_ATTEMPTS, unique_key="grade:7")
    fresh = job_create(kind="test", title="Grading", task=system_check_task, unique_key="grade:7")
    stale.refresh_from_db()
    assert stale.status == Job.Status.FAILED
    assert fresh.status == Job.Status.QUEUED


def test_a_live_job_still_blocks_a_second_one() -> None:
    _running(seconds_since_heartbeat=1, unique_key="grade:8")
    with pytest.raises(ConflictError):
        job_create(kind="test", title="Grading", task=system_check_task, unique_key="grade:8")


def test_a_task_that_keeps_failing_ends_failed_after_n_attempts_with_its_error(school: School) -> None:
    job = job_create(kind="test", title="Flaky", task=system_check_task, created_by=school.admin)

    def work(running: Job) -> dict[str, int]:
        raise ConnectionError("the model server refused the connection")

    for attempt in range(1, settings.JOB_MAX_ATTEMPTS):
        job_run(job_id=str(job.pk), work=work)  # each redelivery runs it again
        job.refresh_from_db()
        assert job.status == Job.Status.QUEUED
        assert job.attempts == attempt
        assert job.message.startswith(f"Attempt {attempt} of {settings.JOB_MAX_ATTEMPTS} failed; trying again in")
    job_run(job_id=str(job.pk), work=work)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.message == f"Failed after {settings.JOB_MAX_ATTEMPTS} attempts."
    assert job.error == "ConnectionError: the model server refused the connection"

    page = client_for(school.admin).get(reverse("core:job_detail", args=[job.pk])).content.decode()
    assert "ConnectionError: the model server refused the connection" in page
    assert f"Failed after {settings.JOB_MAX_ATTEMPTS} attempts." in page


def test_a_bug_in_the_work_fails_at_once() -> None:
    job = job_create(kind="test", title="Bug", task=system_check_task)

    def work(running: Job) -> dict[str, int]:
        raise KeyError("assignment_id")

    job_run(job_id=str(job.pk), work=work)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == (Job.Status.FAILED, 1, "KeyError: 'assignment_id'")


def test_an_unreachable_broker_is_a_clear_error_and_leaves_no_queued_row(django_capture_on_commit_callbacks) -> None:
    with pytest.raises(BrokerUnavailableError) as raised, django_capture_on_commit_callbacks(execute=True):
        job_create(kind="test", title="Grading", task=unreachable_task, unique_key="grade:9")
    assert raised.value.message == BROKER_UNREACHABLE_MESSAGE
    assert raised.value.status_code == 503
    job = Job.objects.get()
    assert job.status == Job.Status.FAILED
    assert job.message == "Not started: the job queue could not be reached."
    # The key is free again: a retry once the broker is back is accepted.
    retry = job_create(kind="test", title="Grading", task=system_check_task, unique_key="grade:9")
    assert retry.status == Job.Status.QUEUED


# Transactional: outside a test's transaction, the enqueue runs during the request, as in production.
@pytest.mark.django_db(transaction=True)
def test_starting_a_job_from_a_page_with_the_broker_down_says_so(school: School, monkeypatch) -> None:
    monkeypatch.setattr("core.views.system_check_task", unreachable_task)
    client = client_for(school.admin)
    response = client.post(reverse("core:system_check"), follow=True)
    assert response.status_code == 200
    assert BROKER_UNREACHABLE_MESSAGE in response.content.decode()
    assert not Job.objects.filter(status=Job.Status.QUEUED).exists()


@pytest.mark.django_db(transaction=True)
def test_starting_a_job_from_the_api_with_the_broker_down_is_503(school: School, monkeypatch) -> None:
    from rest_framework.test import APIClient

    monkeypatch.setattr("core.api_views.system_check_task", unreachable_task)
    client = APIClient()
    client.force_authenticate(school.admin)
    response = client.post(reverse("api-system-check"))
    assert response.status_code == 503
    assert response.json() == {"error": {"code": "broker_unavailable", "message": BROKER_UNREACHABLE_MESSAGE}}
    assert not Job.objects.filter(status=Job.Status.QUEUED).exists()


def test_the_admin_dashboard_says_when_no_worker_has_been_seen(school: School) -> None:
    client = client_for(school.admin)
    page = client.get(reverse("accounts:dashboard")).content.decode()
    assert 'data-alive="false"' in page
    assert "No worker has been seen yet" in page

    worker_heartbeat_record(hostname="celery@school-server")
    page = client.get(reverse("accounts:dashboard")).content.decode()
    assert 'data-alive="true"' in page
    assert "Worker running: celery@school-server." in page

    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(seconds=STALE))
    system = client.get(reverse("core:system")).content.decode()
    assert 'data-alive="false"' in system
    assert "No worker has been seen since" in system
