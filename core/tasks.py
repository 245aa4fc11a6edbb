from __future__ import annotations

import platform
from typing import Any

from celery import shared_task
from django.db import connection
from django.utils import timezone

from core.models import Job
from core.services import job_progress_set, job_run


def _system_check(job: Job) -> dict[str, Any]:
    job_progress_set(job=job, progress=0, total=2, message="Checking the database from the worker")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    job_progress_set(job=job, progress=1, message="Database reachable")
    return {
        "worker": job.worker,
        "python": platform.python_version(),
        "database": connection.vendor,
        "database_answers": one == 1,
        "checked_at": timezone.now().isoformat(),
    }


@shared_task(name="core.system_check_task", acks_late=True, reject_on_worker_lost=True)
def system_check_task(job_id: str) -> None:
    """Proves the worker is alive and reaches the database; the result is stored on the job."""
    job_run(job_id=job_id, work=_system_check)
