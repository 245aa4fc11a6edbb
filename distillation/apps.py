from __future__ import annotations

from django.apps import AppConfig


class DistillationConfig(AppConfig):
    name = "distillation"
    verbose_name = "Teacher-aligned data (ARTE) and distillation of the student model"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(label="Distillation", url_name="distillation:index", roles={"admin"}, order=75)
