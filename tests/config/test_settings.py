"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_without_secret_key_fails_naming_the_variable() -> None:
    result = _manage("check", DJANGO_SETTINGS_MODULE="config.settings.production")
    assert result.returncode != 0
    assert "The environment variable SECRET_KEY is required by these settings but is not set." in result.stderr


def test_production_check_deploy_prints_no_warning() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="a-real-secret-4f8e1c9a7b2d6e3f0a5c8b1d4e7f2a9c6b3d0e8f1a4c7b2e5d8f",
        ALLOWED_HOSTS="tutorloop.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_malformed_boolean_is_named() -> None:
    result = _manage("check", DEBUG="perhaps", DJANGO_SETTINGS_MODULE="config.settings.local")
    assert result.returncode != 0
    assert "The environment variable DEBUG must be one of" in result.stderr


def test_migrations_are_up_to_date() -> None:
    result = _manage("makemigrations", "--check", "--dry-run", DJANGO_SETTINGS_MODULE="config.settings.test")
    assert result.returncode == 0, result.stdout + result.stderr


PRINT_MODEL_SERVER_URL = "from django.conf import settings; print(repr(settings.MODEL_SERVER_URL))"


def _model_server_url(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_MODEL_SERVER_URL],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.local"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_an_empty_model_server_url_generates_in_process_and_unset_means_the_server() -> None:
    unset = {key: value for key, value in os.environ.items() if key != "MODEL_SERVER_URL"}
    assert _model_server_url(unset) == "'http://127.0.0.1:8081/v1'"
    assert _model_server_url({**unset, "MODEL_SERVER_URL": ""}) == "''"
    assert _model_server_url({**unset, "MODEL_SERVER_URL": "http://models:9000/v1"}) == "'http://models:9000/v1'"


def test_the_default_cache_is_shared_by_every_web_process(tmp_path: Path) -> None:
    """make run serves with several web processes: the tutor's message limit must count across them."""
    local = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "TUTORLOOP_VAR_DIR": str(tmp_path)}
    code = "from django.core.cache import cache; cache.add('count', 0); print(cache.incr('count'))"
    first = _manage("shell", "-c", code, **local)
    second = _manage("shell", "-c", code, **local)
    # The last line: Django's shell may first say how many objects it imported.
    counts = (first.stdout.strip().splitlines()[-1:], second.stdout.strip().splitlines()[-1:])
    assert counts == (["1"], ["2"]), first.stderr + second.stderr


def test_a_cache_url_that_is_not_redis_is_refused_by_name() -> None:
    result = _manage("check", CACHE_URL="memcached://127.0.0.1:11211", DJANGO_SETTINGS_MODULE="config.settings.local")
    assert result.returncode != 0
    assert "The environment variable CACHE_URL must be a redis:// address" in result.stderr
