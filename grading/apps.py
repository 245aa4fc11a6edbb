from __future__ import annotations

from django.apps import AppConfig


class GradingConfig(AppConfig):
    name = "grading"
    verbose_name = "Short-answer grading"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(label="Grading", url_name="grading:index", roles={"student", "teacher", "admin"}, order=30)
