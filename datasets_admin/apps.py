from __future__ import annotations

from django.apps import AppConfig


class DatasetsAdminConfig(AppConfig):
    name = "datasets_admin"
    verbose_name = "Data sets, the teacher-aligned generator and distillation jobs"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(label="Data sets", url_name="datasets_admin:index", roles={"admin"}, order=60)
        # models_runtime imports no other app, so its link is registered here, by the admin app above it.
        nav_link_register(label="Models", url_name="models_runtime:index", roles={"admin"}, order=70)
