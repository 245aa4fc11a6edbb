"""ASGI entry point: `make run` serves this with uvicorn, so replies can stream (server-sent events)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_asgi_application()
