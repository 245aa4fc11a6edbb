from __future__ import annotations

import pytest

from core.errors import ConflictError
from core.models import Job
from core.services import job_cancel, job_create, job_progress_set, job_run
from core.tasks import system_check_task

pytestmark = pytest.mark.django_db


def test_job_is_enqueued_only_after_commit(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        job = job_create(kind="test", title="Test", task=system_check_task)
    assert len(callbacks) == 1
    assert job.status == Job.Status.QUEUED


def test_second_active_job_with_the_same_key_is_refused() -> None:
    job_create(kind="test", title="Nightly", task=system_check_task, unique_key="nightly")
    with pytest.raises(ConflictError, match="“Nightly” is already queued or running"):
        job_create(kind="test", title="Nightly", task=system_check_task, unique_key="nightly")
    assert Job.objects.count() == 1


def test_a_job_delivered_twice_runs_once() -> None:
    job = job_create(kind="test", title="Once", task=system_check_task)
    calls: list[str] = []

    def work(running: Job) -> dict[str, int]:
        calls.append(str(running.pk))
        return {"answer": 42}

    first = job_run(job_id=str(job.pk), work=work)
    second = job_run(job_id=str(job.pk), work=work)
    assert first is not None and first.status == Job.Status.SUCCEEDED
    assert first.result == {"answer": 42}
    assert second is None
    assert calls == [str(job.pk)]


def test_failure_is_recorded_with_its_message() -> None:
    job = job_create(kind="test", title="Boom", task=system_check_task)

    def work(running: Job) -> dict[str, int]:
        raise ValueError("the data file has no header row")

    finished = job_run(job_id=str(job.pk), work=work)
    assert finished is not None
    assert finished.status == Job.Status.FAILED
    assert finished.error == "ValueError: the data file has no header row"


def test_cancel_stops_a_running_job_at_its_next_step() -> None:
    job = job_create(kind="test", title="Long", task=system_check_task)

    def work(running: Job) -> dict[str, int]:
        job_progress_set(job=running, progress=1, total=10)
        job_cancel(job=running)
        job_progress_set(job=running, progress=2)
        raise AssertionError("not reached")

    finished = job_run(job_id=str(job.pk), work=work)
    assert finished is not None
    assert finished.status == Job.Status.CANCELLED
    assert finished.progress == 2  # the step that saw the request is recorded, nothing after it runs


def test_cancelling_a_finished_job_is_a_conflict() -> None:
    job = job_create(kind="test", title="Done", task=system_check_task)
    job_run(job_id=str(job.pk), work=lambda running: {})
    job.refresh_from_db()
    with pytest.raises(ConflictError, match="already finished"):
        job_cancel(job=job)
