from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from datasets_admin.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo course, its people and content (idempotent) and print the logins."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_seed()
        self.stdout.write(self.style.SUCCESS("Demo ready. Log in at http://127.0.0.1:8000 as:"))
        for login in logins:
            self.stdout.write(f"  {login.role:<8} {login.username:<8} password: {login.password}   ({login.name})")
