"""The database settings, built from the environment's values in one function that tests can call.

PostgreSQL may use psycopg's connection pool (Django 5.1+, ``OPTIONS["pool"]``): each web process keeps
up to ``pool_max_size`` open connections and hands them to requests, instead of opening one per request
(``conn_max_age=0``) or pinning one per thread (``conn_max_age>0``, which under the ASGI server's thread
pool holds many idle connections). A pool and ``conn_max_age`` exclude each other, so a pool wins.
SQLite (the laptop default) gets WAL and immediate transactions so the web processes and the worker
share the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def database_config(url: str, *, conn_max_age: int, pool_max_size: int, var_dir: Path) -> dict[str, Any]:
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True))
    engine = config["ENGINE"]
    if pool_max_size < 0:
        raise ImproperlyConfigured(f"DATABASE_POOL_MAX_SIZE must be 0 (no pool) or more, not {pool_max_size}.")
    if engine == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # A file, not memory, so that a worker process started by a test sees the test database.
        config["TEST"] = {"NAME": str(var_dir / "test-tutorloop.sqlite3")}
    elif engine == "django.db.backends.postgresql" and pool_max_size:
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = False  # the pool checks connections itself
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, pool_max_size),
            "max_size": pool_max_size,
            "timeout": 10,  # seconds a request waits for a free connection before it fails
        }
    return config
