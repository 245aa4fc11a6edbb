"""Production settings: every secret comes from the environment, and nothing insecure is defaulted."""

from __future__ import annotations

from config.database import database_config
from config.env import env_bool, env_int, env_str

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")  # no default: start-up fails naming the variable

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# PostgreSQL through psycopg's pool: a web process hands its few connections to requests in turn.
DATABASES = {
    "default": database_config(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tutorloop.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        pool_max_size=env_int("DATABASE_POOL_MAX_SIZE", 10),
        var_dir=VAR_DIR,
    )
}
