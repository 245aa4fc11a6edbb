"""ASGI entry point: `make run` serves this with uvicorn, so replies can stream (server-sent events)."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_asgi_application()

if settings.WEB_WARM_EMBEDDINGS:
    # Each web process loads the embedding model before it serves (the review queue, its groups and the comment
    # links embed answers): loaded on the first such request instead, it held that request and the others of
    # the process for seconds (bench/load.py's review-queue outliers).
    from models_runtime import api as models

    try:
        models.embed(["warm-up"])
    except models.ModelError as error:
        logging.getLogger(__name__).warning("the embedding model is not loaded ahead: %s", error.message)
