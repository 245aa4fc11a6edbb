from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.models import Job


def job_list_for_user(*, user: Any) -> QuerySet[Job]:
    """Admins see every job; everyone else sees the jobs they started."""
    jobs = Job.objects.select_related("created_by")
    if getattr(user, "is_admin", False):
        return jobs
    return jobs.filter(created_by=user)
