"""Settings for a laptop or a classroom server on a private network: `make run` uses these."""

from __future__ import annotations

from config.env import env_bool, env_str

from .base import *  # noqa: F403

# Off by default even here: a visitor never sees a stack trace. Set DEBUG=1 while developing.
DEBUG = env_bool("DEBUG", False)
# A fixed development key is fine here: production.py has no default and refuses to start without one.
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-local-development-key-change-me-for-production")
