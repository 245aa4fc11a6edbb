"""config/database.py: PostgreSQL through psycopg's pool when DATABASE_POOL_MAX_SIZE asks for one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import DatabaseWrapper

from config.database import database_config

POSTGRES_URL = os.environ.get("DATABASE_URL", "")


def test_a_pool_replaces_persistent_connections() -> None:
    config = database_config("postgres://u@db.example:5432/tl", conn_max_age=600, pool_max_size=8, var_dir=Path("var"))
    assert config["CONN_MAX_AGE"] == 0
    assert config["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 8, "timeout": 10}


def test_no_pool_keeps_the_connection_age() -> None:
    config = database_config("postgres://u@db.example:5432/tl", conn_max_age=60, pool_max_size=0, var_dir=Path("var"))
    assert config["CONN_MAX_AGE"] == 60
    assert "pool" not in config.get("OPTIONS", {})


def test_sqlite_gets_wal_and_never_a_pool(tmp_path: Path) -> None:
    config = database_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", conn_max_age=0, pool_max_size=8, var_dir=tmp_path)
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "pool" not in config["OPTIONS"]
    assert config["TEST"]["NAME"] == str(tmp_path / "test-tutorloop.sqlite3")


def test_a_negative_pool_size_is_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL_MAX_SIZE must be 0"):
        database_config("postgres://u@h/tl", conn_max_age=0, pool_max_size=-1, var_dir=Path("var"))


@pytest.mark.skipif(not POSTGRES_URL.startswith("postgres"), reason="needs the PostgreSQL of DATABASE_URL")
def test_the_pool_serves_queries_from_a_real_postgresql(django_db_blocker: Any) -> None:
    settings_dict = {
        "TIME_ZONE": None,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        **database_config(POSTGRES_URL, conn_max_age=0, pool_max_size=3, var_dir=Path("var")),
    }
    settings_dict["NAME"] = "postgres"  # the server's own database: this test creates nothing
    wrapper = DatabaseWrapper(settings_dict, alias="pool-test")
    with django_db_blocker.unblock():
        _use_six_times(wrapper)


def _use_six_times(wrapper: DatabaseWrapper) -> None:
    try:
        wrapper.ensure_connection()
        assert wrapper.pool is not None
        assert wrapper.pool.max_size == 3
        wrapper.close()
        wrapper.pool.wait()  # the pool has opened its minimum; a use now takes one of the open connections
        pids = set()
        for _ in range(6):
            wrapper.ensure_connection()
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.add(cursor.fetchone()[0])
            wrapper.close()  # returns the connection to the pool
        # Six uses never needed more than the pool's three connections: they were reused, not opened per use
        # (without a pool each use opens its own, with its own backend).
        assert len(pids) <= wrapper.pool.max_size
    finally:
        wrapper.close_pool()
