from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from core.models import Job, WorkerHeartbeat


def job_list_for_user(*, user: Any) -> QuerySet[Job]:
    """Admins see every job; everyone else sees the jobs they started."""
    jobs = Job.objects.select_related("created_by")
    if getattr(user, "is_admin", False):
        return jobs
    return jobs.filter(created_by=user)


@dataclass(frozen=True)
class WorkerStatus:
    """Whether a Celery worker said it is alive lately (within JOB_STALE_SECONDS)."""

    is_alive: bool
    last_seen_at: datetime | None
    hostnames: list[str]


def worker_status() -> WorkerStatus:
    seen_after = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    heartbeats = list(WorkerHeartbeat.objects.order_by("-last_seen_at")[:20])
    alive = [beat.hostname for beat in heartbeats if beat.last_seen_at >= seen_after]
    return WorkerStatus(
        is_alive=bool(alive),
        last_seen_at=heartbeats[0].last_seen_at if heartbeats else None,
        hostnames=alive,
    )
