"""Settings shared by every environment. Environment variables are read here and nowhere else."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.database import database_config
from config.env import env_bool, env_float, env_int, env_list, env_str

# Nothing downloads weights or data at run time: schools and these machines are offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("TUTORLOOP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "core",
    "accounts",
    "models_runtime",
    "grading",
    "tutor",
    "coaching",
    "coaching.reflection",
    "datasets_admin",
    "distillation",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it turns a locked-out sign-in into the lockout page (accounts.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": [
                "django.contrib.humanize.templatetags.humanize",
                "template_partials.templatetags.partials",
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "core.context_processors.navigation",
            ],
        },
    },
]

# --- Database: DATABASE_URL, SQLite under var/ by default -------------------------------------
DATABASES = {
    "default": database_config(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tutorloop.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        # PostgreSQL only: psycopg's pool per process (config/database.py); 0 turns it off.
        pool_max_size=env_int("DATABASE_POOL_MAX_SIZE", 0),
        var_dir=VAR_DIR,
    )
}

# --- Cache: shared by every web process (make run serves with several, see the Procfile) ----------
# What lives here must hold across processes: the tutor's per-student message limit. A directory under
# var/ by default (no server needed); CACHE_URL=redis://... where a Redis server is at hand.
_CACHE_URL = env_str("CACHE_URL", "")
if _CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL}}
elif _CACHE_URL:
    raise ImproperlyConfigured(f"The environment variable CACHE_URL must be a redis:// address, not {_CACHE_URL!r}.")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- Sign-in: lockout after repeated failures (django-axes), expiring API tokens -----------------
# See docs/decisions/0006-login-lockout-and-token-expiry.md.
AUTHENTICATION_BACKENDS = [
    "accounts.lockout.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
# A school shares one address behind its router: lock the (username, address) pair, not the address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False
API_TOKEN_TTL_SECONDS = env_int("API_TOKEN_TTL_HOURS", 24) * 60 * 60

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# --- Security headers shared by every environment -----------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie (the token is in hx-headers), but forms do.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # plotly.js writes <style> elements for its charts.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Django REST framework and the OpenAPI schema ------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.authentication.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasAnyRole"],
    "DEFAULT_PAGINATION_CLASS": "core.api.StandardPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"model": env_str("MODEL_RATE_LIMIT", "30/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tutorloop API",
    "DESCRIPTION": "Feedback in education: tutoring, grading and coaching on a school's own server.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN (schools run offline,
    # and the CSP allows scripts from 'self' only).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the grade labels, whichever field (teacher's or model's) uses them.
    "ENUM_NAME_OVERRIDES": {
        "GradeLabelEnum": "grading.models.Label",
        "TranscriptStatusEnum": "coaching.models.Transcript.Status",
        "ReflectionDialogueStatusEnum": "coaching.reflection.models.Dialogue.Status",
    },
}

# --- Celery: Redis in CI and production, a server-less SQLite broker by default -----------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_TASK_IGNORE_RESULT = True  # results live in core.Job rows, which pages poll
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 6 * 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"*.model_*": {"queue": "models"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Jobs whose worker died (core.services.job_recover_stale): a running job beats its heartbeat every
# JOB_HEARTBEAT_SECONDS; one silent for JOB_STALE_SECONDS is requeued, up to JOB_MAX_ATTEMPTS tries.
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 10.0)
JOB_STALE_SECONDS = env_float("JOB_STALE_SECONDS", 60.0)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
JOB_RETRY_BACKOFF_SECONDS = env_float("JOB_RETRY_BACKOFF_SECONDS", 5.0)

# --- Models (models_runtime reads these; see models_runtime/README.md) ---------------------------
MODELS_DIR = Path(env_str("MODELS_DIR", str(VAR_DIR / "models")))
MODEL_DEFAULT_BACKEND = env_str("MODEL_BACKEND", "local")
MODEL_TASKS = ("tutor", "feedback", "grader", "coaching", "questions", "teacher")
# Per task: MODEL_BACKEND_<TASK> (local|openai), falling back to MODEL_BACKEND.
MODEL_BACKENDS = {task: env_str(f"MODEL_BACKEND_{task.upper()}", MODEL_DEFAULT_BACKEND) for task in MODEL_TASKS}
# The one model server (llama.cpp's llama-server, `manage.py model_server`, a line of the Procfile) that
# writes every generation of a local version. Set to an empty value (MODEL_SERVER_URL=) to generate
# in-process instead: the test default, and how a command runs without `make run`'s server.
MODEL_SERVER_URL = (
    "" if os.environ.get("MODEL_SERVER_URL") == "" else env_str("MODEL_SERVER_URL", "http://127.0.0.1:8081/v1")
)
MODEL_SERVER_THREADS = env_int("MODEL_SERVER_THREADS", 0)  # 0: half the cores, at least 1 (model_server.py)
MODEL_SERVER_SLOTS = env_int("MODEL_SERVER_SLOTS", 8)  # streams written together (continuous batching)
MODEL_SERVER_CONTEXT = env_int("MODEL_SERVER_CONTEXT", 16384)  # tokens of KV cache shared by the slots
# An `openai` backend version with no address of its own (MODEL_BACKEND_<TASK>=openai) talks to the one model
# server unless told otherwise: nothing listens on any other local port by default.
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", MODEL_SERVER_URL or "http://127.0.0.1:8081/v1")
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "not-needed")
# Each web process (config/asgi.py) loads the embedding model before serving, not on the first request needing it.
WEB_WARM_EMBEDDINGS = env_bool("WEB_WARM_EMBEDDINGS", True)
# Off (GRADING_MODEL_FEEDBACK=0): a grade's feedback is chosen from teachers' feedback on similar answers and the
# model writes no draft (a school without a model server; a machine too slow to write drafts while grading).
GRADING_MODEL_FEEDBACK = env_bool("GRADING_MODEL_FEEDBACK", True)
OPENAI_MODEL = env_str("OPENAI_MODEL", "")
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 60.0)
MODEL_MAX_NEW_TOKENS = env_int("MODEL_MAX_NEW_TOKENS", 256)
# Threads for torch in each process (0: torch's default, one per core). On a busy shared CPU, 1 can be faster.
MODEL_TORCH_THREADS = env_int("MODEL_TORCH_THREADS", 0)
# dtype of local generators: auto (bfloat16 where the CPU has bf16 instructions, else float32), float32, bfloat16.
MODEL_DTYPE = env_str("MODEL_DTYPE", "auto")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Refusals (403/404) are answered with a page; they are not errors worth a traceback.
        "django.request": {"level": "ERROR"},
        # django-axes logs every sign-in at INFO; lockouts are still logged as warnings.
        "axes": {"level": "WARNING"},
    },
}

STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "core.staticfinders.PlotlyFinder",
]

# --- Seams between feature apps (core.review_queue) ------------------------------------------------
# Reflection answers a teacher sends for review land in grading's queue; core and coaching never import grading.
REVIEW_QUEUE_RECEIVER = env_str("REVIEW_QUEUE_RECEIVER", "grading.review_intake.review_request_receive")

# --- Reflection questions (coaching.reflection) ------------------------------------------------------------
# Drafts the Student-Teacher is asked for per round while the drafts so far fail the checks (best of n).
REFLECTION_DRAFT_SAMPLES = env_int("REFLECTION_DRAFT_SAMPLES", 3)
