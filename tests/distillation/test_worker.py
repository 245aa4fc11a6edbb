"""A run's steps are jobs on a real Celery worker (the models queue): started from the page, watched, cancelled
half-way through a step (the step, the job and the run say so), resumed from that step as a new job."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.urls import reverse

from core.models import Job
from distillation.models import DistillationRun, RunStep, Status
from tests.conftest import client_for
from tests.worker import celery_worker, worker_log_path

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(condition: Callable[[], bool], worker, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.poll() is None, worker_log_path().read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"not reached in {seconds} s; worker log: {worker_log_path().read_text()[-2000:]}")


def _draft() -> RunStep:
    return RunStep.objects.get(name="draft")


def test_a_run_started_on_the_page_runs_on_the_worker_is_cancelled_mid_step_and_resumes_there(school) -> None:
    client = client_for(school.admin)
    with celery_worker(env={"MODEL_TORCH_THREADS": "1"}) as worker:
        started = client.post(reverse("distillation:index"), {"task": "feedback", "config": "tiny", "seed": "2"})
        run = DistillationRun.objects.get()
        assert started.status_code == 302 and started["Location"] == reverse("distillation:run_detail", args=[run.pk])
        _wait(lambda: _draft().status == Status.RUNNING and "Embedding" in _draft().log, worker)
        first_job = Job.objects.get(pk=_draft().job_id)
        assert first_job.task_name == "distillation.model_step_task"

        client.post(reverse("distillation:run_cancel", args=[run.pk]))
        _wait(lambda: _draft().status == Status.CANCELLED, worker)
        run.refresh_from_db()
        first_job.refresh_from_db()
        assert run.status == Status.CANCELLED and run.message == "Cancelled at step draft."
        assert _wait(lambda: Job.objects.get(pk=first_job.pk).status == Job.Status.CANCELLED, worker) is None
        page = client.get(reverse("distillation:run_detail", args=[run.pk])).content.decode()
        assert 'data-testid="step-draft" data-status="cancelled"' in page and 'data-testid="resume"' in page

        client.post(reverse("distillation:run_resume", args=[run.pk]))
        _wait(lambda: _draft().attempts == 2 and _draft().status == Status.RUNNING, worker)
        assert _draft().job_id != str(first_job.pk)
        client.post(reverse("distillation:run_cancel", args=[run.pk]))
        _wait(lambda: DistillationRun.objects.get(pk=run.pk).status == Status.CANCELLED, worker)
