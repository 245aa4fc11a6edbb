"""A real Celery worker process (solo pool, the `default` and `models` queues, as `make run`'s worker)
over the configured broker (Redis in CI) and the test database, for tests that run a job end to end.

`celery_worker()` is the context manager; the `celery_worker_process` fixture (tests/conftest.py) wraps it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
QUEUES = ("default", "models")  # every queue the product routes tasks to (CELERY_TASK_ROUTES)


def database_url() -> str:
    """The test database, as the worker's DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker_log_path() -> Path:
    return ROOT / "var" / "test-worker.log"


@contextmanager
def celery_worker(*, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start the worker; stop it on leaving. `env` adds to (or overrides) the worker's environment."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **(env or {}),
    }
    worker_log_path().parent.mkdir(exist_ok=True)
    log = open(worker_log_path(), "wb")  # noqa: SIM115 - closed below
    command = [sys.executable, "-m", "celery", "--app", "config", "worker", "--pool", "solo", "--loglevel", "INFO"]
    command += ["--queues", ",".join(QUEUES), "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
