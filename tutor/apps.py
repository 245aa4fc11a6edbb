from __future__ import annotations

from django.apps import AppConfig


class TutorConfig(AppConfig):
    name = "tutor"
    verbose_name = "Socratic math tutoring"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(label="Tutor", url_name="tutor:index", roles={"student", "teacher", "admin"}, order=20)
