"""Settings for the test suite: the real database and broker named by the environment."""

from __future__ import annotations

from config.env import env_int

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-use-0123456789abcdef"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
# Generation in-process unless a test starts the real model server (tests/models_runtime/conftest.py).
MODEL_SERVER_URL = ""
# One process per test run, and several runs share var/: each keeps its cache to itself.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The real model phrases the coaching suggestions in few tokens (90 in the product): the tests check the
# provenance and that a kept phrasing still names its line, not the length. A phrasing cut short keeps the
# template's wording, which the tests accept as they accept any phrasing the model declines.
COACHING_MAX_NEW_TOKENS = 24
# One torch thread for the in-process models (the local engine sets it process-wide when it loads): tests
# run the model server, workers and Chromium beside pytest on the same cores, and two torch threads that
# wait on each other cost more than they give (tests/models_runtime/test_engine.py and test_api.py: 250 s
# at torch's default of 2 threads, 47 s at 1, load average 4-5; tests/coaching/reflection 57 s and 28 s).
MODEL_TORCH_THREADS = env_int("MODEL_TORCH_THREADS", 1)
