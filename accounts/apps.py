from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, roles and courses"

    def ready(self) -> None:
        from core.navigation import nav_link_register

        nav_link_register(
            label="Dashboard", url_name="accounts:dashboard", roles={"student", "teacher", "admin"}, order=0
        )
