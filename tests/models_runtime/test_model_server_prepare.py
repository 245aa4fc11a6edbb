"""`manage.py model_server --prepare` (what `make run` runs before it prints its address) writes the files the
model server reads, the served student and the preset, and starts nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from models_runtime import model_server
from models_runtime.conversion import DEFAULT_STUDENT_NAME


@pytest.mark.django_db
def test_prepare_writes_the_preset_with_the_served_student_and_starts_no_server(
    monkeypatch: pytest.MonkeyPatch, settings, tmp_path: Path
) -> None:
    settings.MODELS_DIR = tmp_path
    served = tmp_path / "gguf" / f"{DEFAULT_STUDENT_NAME}.q8_0.gguf"
    written: list[Path] = []

    def export() -> Path:  # the real one re-encodes the shipped file (a minute here); it is tested in test_gguf
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_bytes(b"GGUF")
        written.append(served)
        return served

    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("--prepare started a process")

    monkeypatch.setattr(model_server, "student_gguf_path", export)
    monkeypatch.setattr(subprocess, "Popen", no_server)

    call_command("model_server", "--prepare")

    assert written == [served]
    assert f"[{DEFAULT_STUDENT_NAME}]\nmodel = {served.resolve()}\n" in model_server.preset_path().read_text()
