"""`manage.py model_server`: what it says when it cannot run, and that it serves where MODEL_SERVER_URL says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from tests.models_runtime.conftest import free_port
from tests.worker import database_url

ROOT = Path(__file__).resolve().parents[2]


def test_with_no_server_url_there_is_nothing_to_run(settings) -> None:
    settings.MODEL_SERVER_URL = ""
    with pytest.raises(CommandError, match="MODEL_SERVER_URL is empty, so generation runs in-process"):
        call_command("model_server")


@pytest.mark.django_db
def test_a_missing_binary_says_how_to_install_it(settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings.MODEL_SERVER_URL = "http://127.0.0.1:8081/v1"
    settings.MODELS_DIR = tmp_path
    monkeypatch.setenv("MODEL_SERVER_BINARY", str(tmp_path / "no-such-llama-server"))
    with pytest.raises(CommandError, match=r"llama-server is not installed at .*no-such-llama-server: run `make inst"):
        call_command("model_server")


@pytest.mark.django_db(transaction=True)
def test_it_serves_the_bundled_student_where_the_setting_points(tmp_path: Path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url(),
        "MODEL_SERVER_URL": f"http://127.0.0.1:{port}/v1",
        "MODELS_DIR": str(tmp_path),
        "MODEL_SERVER_THREADS": "2",
        "MODEL_SERVER_SLOTS": "2",
    }
    log = tmp_path / "model_server.log"
    with open(log, "wb") as out:
        command = [sys.executable, "manage.py", "model_server"]
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        deadline = time.monotonic() + 300
        answer = None
        while answer is None and time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60)
            except httpx.HTTPError:
                time.sleep(0.25)
        assert answer is not None, log.read_text()
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"]
        # The student is served re-encoded as q8_0 (llama.cpp's fast CPU kernels), written once into MODELS_DIR.
        served = tmp_path / "gguf" / "smollm2-135m-instruct.q8_0.gguf"
        assert f"model = {served}" in (tmp_path / "model-server.ini").read_text()
        assert served.stat().st_size > 100_000_000
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()
    assert "The model server is ready at" in log.read_text()
