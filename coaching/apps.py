from __future__ import annotations

from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "coaching"
    verbose_name = "Classroom coaching and reflection questions"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(label="Coaching", url_name="coaching:index", roles={"teacher", "admin"}, order=40)
