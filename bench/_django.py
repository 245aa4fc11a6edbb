"""Shared start-up for benchmarks: Django on a throwaway test database, never the real one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup_with_test_database() -> object:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    return connection


def django_teardown(connection: object, old_name: str | None = None) -> None:
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)  # type: ignore[attr-defined]
