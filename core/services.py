"""Writes to jobs. Every task that runs longer than a request goes through these functions."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.errors import ApplicationError, ConflictError, NotFoundError
from core.models import AuditEntry, Job, WorkerHeartbeat

logger = logging.getLogger(__name__)

BROKER_UNREACHABLE_MESSAGE = (
    "The job queue cannot be reached, so the job was not started. Try again in a minute; if it keeps "
    "happening, ask an administrator to check the broker and the worker (System page)."
)
# Errors that a later attempt may not meet again: the database or a model server went away for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, ConnectionError, TimeoutError)


class BrokerUnavailableError(ApplicationError):
    status_code = 503
    code = "broker_unavailable"


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
        # A job whose worker died holds the key until the sweep notices; notice it now.
        if unique_key and job_recover_stale(unique_key=unique_key):
            return job_create(
                kind=kind, title=title, task=task, created_by=created_by, params=params, unique_key=unique_key
            )
        raise ConflictError(f"“{title}” is already queued or running; wait for it to finish or cancel it.") from error
    job_id = str(job.id)
    task_name = getattr(task, "name", "") or ""
    Job.objects.filter(pk=job.pk).update(task_name=task_name[:200])
    job.task_name = task_name[:200]
    # Outside a transaction this runs at once, so the caller hears that the broker is down.
    transaction.on_commit(lambda: _job_enqueue(job_id=job_id, task=task))
    return job


def _job_enqueue(*, job_id: str, task: Any, countdown: float = 0) -> None:
    """Send the job's message; when the broker is unreachable, fail the job (freeing its key) and say so."""
    try:
        task.apply_async(
            args=[job_id],
            countdown=countdown or None,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1},
        )
    except (BrokerOperationalError, ConnectionError, OSError) as error:
        logger.warning("job %s not enqueued: broker unreachable (%s)", job_id, error)
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message="Not started: the job queue could not be reached.",
            error=f"{BROKER_UNREACHABLE_MESSAGE} ({type(error).__name__}: {error})"[:5000],
        )
        raise BrokerUnavailableError(BROKER_UNREACHABLE_MESSAGE) from error


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)


def _stale_running() -> Q:
    """A running job whose worker stopped saying it is alive."""
    stale_before = _stale_before()
    return Q(status=Job.Status.RUNNING) & (
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before)
    )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def job_claim(*, job_id: str) -> Job | None:
    """Move a queued job to running, or take over a running one whose worker died (stale heartbeat).

    Returns None when another delivery holds it, or when the job has used up its attempts (it is
    then failed with a message).
    """
    now = timezone.now()
    claimable = Q(pk=job_id) & (Q(status=Job.Status.QUEUED) | _stale_running())
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(claimable).first()
        if job is None:
            return None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            _job_fail_out_of_attempts(job=job)
            return None
        job.status, job.started_at, job.heartbeat_at = Job.Status.RUNNING, now, now
        job.worker = worker_name()
        job.attempts = F("attempts") + 1
        job.save(update_fields=["status", "started_at", "heartbeat_at", "worker", "attempts"])
    job.refresh_from_db()
    return job


def _job_fail_out_of_attempts(*, job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED,
        finished_at=timezone.now(),
        message=f"Failed after {job.attempts} attempts.",
        error=job.error
        or (
            f"The worker running this job stopped without finishing it {job.attempts} times "
            f"(last: {job.worker or 'unknown'}); it was not tried again."
        ),
    )


def job_heartbeat(*, job_id: Any) -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())


@contextmanager
def _heartbeat_while_running(job_id: Any) -> Iterator[None]:
    """Beat the job's heartbeat from a thread while its work runs (a model step can be long)."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    job_heartbeat(job_id=job_id)
                except DatabaseError:
                    logger.warning("job %s: heartbeat not recorded", job_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"job-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=settings.JOB_HEARTBEAT_SECONDS + 5)


def job_recover_stale(*, unique_key: str = "") -> int:
    """Requeue running jobs whose worker died (no heartbeat for JOB_STALE_SECONDS), or fail those
    that have used their attempts. Returns how many jobs it moved. Workers call it periodically."""
    stale = Job.objects.filter(_stale_running())
    if unique_key:
        stale = stale.filter(unique_key=unique_key)
    moved = 0
    for job in stale:
        with transaction.atomic():
            locked = Job.objects.select_for_update().filter(_stale_running(), pk=job.pk).first()
            if locked is None:
                continue
            moved += 1
            if locked.attempts >= settings.JOB_MAX_ATTEMPTS or not locked.task_name:
                _job_fail_out_of_attempts(job=locked)
                continue
            Job.objects.filter(pk=locked.pk).update(
                status=Job.Status.QUEUED,
                heartbeat_at=None,
                message=f"Requeued: its worker ({locked.worker}) stopped; attempt {locked.attempts + 1} of "
                f"{settings.JOB_MAX_ATTEMPTS} next.",
            )
            transaction.on_commit(functools.partial(_job_send, job_id=str(locked.pk), task_name=locked.task_name))
    return moved


def _job_send(*, job_id: str, task_name: str, countdown: float = 0) -> None:
    try:
        _job_enqueue(job_id=job_id, task=current_app.tasks[task_name], countdown=countdown)
    except (BrokerUnavailableError, KeyError):
        logger.exception("job %s could not be requeued", job_id)


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
    job.heartbeat_at = timezone.now()
    fields.append("heartbeat_at")
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
        with _heartbeat_while_running(job.pk):
            result = work(job)
    except JobCancelled:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled."
        )
    except TRANSIENT_ERRORS as error:
        if isinstance(error, DatabaseError) and not connection.is_usable():
            connection.close()  # the next query reconnects
        _job_retry_or_fail(job=job, error=error)
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


def _job_retry_or_fail(*, job: Job, error: BaseException) -> None:
    """A transient error: try again later (backing off) until JOB_MAX_ATTEMPTS, then fail with the error."""
    text = f"{type(error).__name__}: {error}"[:5000]
    if job.attempts >= settings.JOB_MAX_ATTEMPTS or not job.task_name:
        logger.error("job %s (%s) failed after %s attempts: %s", job.pk, job.kind, job.attempts, text)
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            error=text,
            message=f"Failed after {job.attempts} attempts.",
        )
        return
    countdown = settings.JOB_RETRY_BACKOFF_SECONDS * 2 ** (job.attempts - 1)
    logger.warning(
        "job %s (%s) attempt %s failed (%s); retrying in %ss", job.pk, job.kind, job.attempts, text, countdown
    )
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.QUEUED,
        heartbeat_at=None,
        error=text,
        message=f"Attempt {job.attempts} of {settings.JOB_MAX_ATTEMPTS} failed; trying again in {countdown:g} s.",
    )
    _job_send(job_id=str(job.pk), task_name=job.task_name, countdown=countdown)


def worker_heartbeat_record(*, hostname: str, queues: str = "", started_at: Any = None) -> None:
    """A worker says it is alive; it also sweeps the jobs whose worker died."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:200],
        defaults={"pid": os.getpid(), "queues": queues[:200], "last_seen_at": now},
        create_defaults={
            "pid": os.getpid(),
            "queues": queues[:200],
            "last_seen_at": now,
            "started_at": started_at or now,
        },
    )


def worker_heartbeat_delete(*, hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname[:200]).delete()


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


def audit_record(
    *, action: str, actor: Any, summary: str, target: str = "", details: dict[str, Any] | None = None
) -> AuditEntry:
    """Write one audit entry (core.models.AuditEntry): who did what to what."""
    return AuditEntry.objects.create(
        action=action[:60],
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=(getattr(actor, "username", "") or "")[:150],
        target=target[:200],
        summary=summary[:500],
        details=details or {},
    )
