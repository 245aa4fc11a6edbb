"""config/asgi.py: each web process loads the embedding model before it serves, unless told not to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOADED = (
    "import config.asgi; from models_runtime.embeddings import embedding_model; "
    "print('loaded' if embedding_model.cache_info().currsize else 'not loaded')"
)


@pytest.mark.parametrize(("warm", "expected"), [("1", "loaded"), ("0", "not loaded")])
def test_the_web_process_loads_the_embedding_model_before_serving(warm: str, expected: str) -> None:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "WEB_WARM_EMBEDDINGS": warm}
    done = subprocess.run(
        [sys.executable, "-c", LOADED], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected
