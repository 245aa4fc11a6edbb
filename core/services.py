"""Writes to jobs. Every task that runs longer than a request goes through these functions."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ConflictError, NotFoundError
from core.models import Job

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job's work when a user asked to cancel it."""


def job_create(
    *,
    kind: str,
    title: str,
    task: Any,
    created_by: Any = None,
    params: dict[str, Any] | None = None,
    unique_key: str = "",
) -> Job:
    """Create a job row and enqueue its Celery task once the transaction commits.

    `task` is a Celery task taking the job id as its only argument.
    """
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind,
                title=title,
                params=params or {},
                created_by=created_by,
                unique_key=unique_key,
            )
    except IntegrityError as error:
        raise ConflictError(f"“{title}” is already queued or running; wait for it to finish or cancel it.") from error
    job_id = str(job.id)
    transaction.on_commit(lambda: task.delay(job_id))
    return job


def job_claim(*, job_id: str) -> Job | None:
    """Move a queued job to running. Returns None when another delivery already claimed it."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), worker=socket.gethostname()[:200]
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def job_progress_set(*, job: Job, progress: int, total: int | None = None, message: str = "") -> None:
    """Record progress, and stop the work if a user asked to cancel."""
    job.progress = progress
    fields = ["progress"]
    if total is not None:
        job.total = total
        fields.append("total")
    if message:
        job.message = message[:500]
        fields.append("message")
    job.save(update_fields=fields)
    if Job.objects.filter(pk=job.pk, is_cancel_requested=True).exists():
        raise JobCancelled


def job_run(*, job_id: str, work: Callable[[Job], dict[str, Any]]) -> Job | None:
    """Claim the job, run `work(job)`, and store its result or its error. Idempotent."""
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("job %s was already claimed; skipping this delivery", job_id)
        return None
    try:
        result = work(job)
    except JobCancelled:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled."
        )
    except Exception as error:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            error=f"{type(error).__name__}: {error}"[:5000],
            message="Failed.",
        )
    else:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.SUCCEEDED,
            finished_at=timezone.now(),
            result=result,
            progress=job.total or job.progress,
            message="Done.",
        )
    job.refresh_from_db()
    return job


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one at its next step."""
    if job.is_finished:
        raise ConflictError("This job has already finished.")
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled."
    )
    Job.objects.filter(pk=job.pk).update(is_cancel_requested=True)
    job.refresh_from_db()
    return job


def job_get(*, job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=job_id)
    except (Job.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such job.") from error
