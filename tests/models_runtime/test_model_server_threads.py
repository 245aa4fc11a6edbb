"""The model server's thread count: half the cores by default (one on a 2-core machine), so that web,
worker and llama.cpp's spinning threads do not fight for the same cores (docs/decisions/0008)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models_runtime import model_server


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_the_default_is_half_the_cores_and_at_least_one(
    monkeypatch: pytest.MonkeyPatch, cores: int, threads: int
) -> None:
    monkeypatch.setattr(model_server.os, "sched_getaffinity", lambda pid: set(range(cores)))

    assert model_server.default_threads() == threads


@pytest.mark.parametrize(("configured", "passed"), [(0, "1"), (3, "3")])
def test_the_command_line_passes_the_threads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, configured: int, passed: str
) -> None:
    monkeypatch.setattr(model_server.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(model_server, "binary_path", lambda: tmp_path / "llama-server")

    command = model_server.server_command(
        host="127.0.0.1", port=8081, preset=tmp_path / "p.ini", threads=configured, slots=8, context=4096
    )

    assert command[command.index("--threads") + 1] == passed
    assert command[command.index("--threads-batch") + 1] == passed
