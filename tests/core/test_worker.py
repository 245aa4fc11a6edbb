"""A task enqueued by a request runs on a real Celery worker process (tests/worker.py), over the configured
broker (Redis in CI), against the test database, and stores its result; so does a task on the `models`
queue, where every model task is routed."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.db import connection
from django.urls import reverse

from config.celery import app as celery_app
from core.models import Job
from core.tasks import system_check_task
from tests.conftest import client_for
from tests.worker import worker_log_path

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_until_finished(job: Job, worker: subprocess.Popen[bytes]) -> Job:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            break
        assert worker.poll() is None, worker_log_path().read_text()[-3000:]
        time.sleep(0.5)
    return job


def test_system_check_requested_on_a_page_runs_on_the_worker(celery_worker_process, school) -> None:
    client = client_for(school.admin)
    response = client.post(reverse("core:system_check"))
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("core:job_detail", args=[job.pk])

    job = wait_until_finished(job, celery_worker_process)

    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)
    assert job.result["database"] == connection.vendor
    assert job.result["database_answers"] is True
    assert job.worker != ""
    assert job.progress == job.total == 2

    # The job page shows the stored result, and its htmx poll stops (286) now that it is finished.
    page = client.get(reverse("core:job_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert page.status_code == 286
    assert 'data-status="succeeded"' in page.content.decode()


def test_the_worker_consumes_the_models_queue_where_model_tasks_are_routed(celery_worker_process) -> None:
    # Every task named `<app>.model_*` (training, grading, coaching analysis, reflection) goes to `models`.
    routed = celery_app.amqp.router.route({}, "tutor.model_tutor_train_task")
    assert routed["queue"].name == "models"
    job = Job.objects.create(kind="system.check", title="Worker check", task_name=system_check_task.name)
    system_check_task.apply_async(args=[str(job.pk)], queue="models")

    job = wait_until_finished(job, celery_worker_process)

    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)
    assert job.result["database_answers"] is True
