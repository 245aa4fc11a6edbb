from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: jobs, errors and shared plumbing"

    def ready(self) -> None:
        from core import worker_monitor  # noqa: F401 - connects the worker's heartbeat to Celery's signals
        from core.navigation import nav_link_register

        nav_link_register(label="System", url_name="core:system", roles={"admin"}, order=90)
