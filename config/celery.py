"""The Celery application. Tasks are discovered in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tutorloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
