from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import User
from datasets_admin.demo import demo_seed
from datasets_admin.sight_demo import sight_demo_seed


class Command(BaseCommand):
    help = "Create the demo course, its people and content (idempotent) and print the logins."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_seed()
        sight_demo_seed(admin=User.objects.filter(username="admin").first())  # datasets_admin's lectures
        port = os.environ.get("TUTORLOOP_PORT", "8000")  # `make run PORT=...` serves there
        self.stdout.write(self.style.SUCCESS(f"Demo ready. Log in at http://127.0.0.1:{port} as:"))
        for login in logins:
            self.stdout.write(f"  {login.role:<8} {login.username:<8} password: {login.password}   ({login.name})")
        from core.models import Job

        training = Job.objects.filter(kind="grading.retrain", status__in=Job.ACTIVE_STATUSES).first()
        if training is not None:
            self.stdout.write(
                "The worker prepares the first grader from the shipped SAF data: a quick one in about a "
                "minute, which grades the demo assignment, then the full one (progress on the teacher's "
                f"assignment page and at /jobs/{training.pk}/)."
            )
