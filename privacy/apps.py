from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy: a student's data exported or deleted, and the audit log"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(label="Privacy", url_name="privacy:index", roles={"admin"}, order=95)
