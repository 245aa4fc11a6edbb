"""Fixtures of the distillation tests: a tiny configuration, and `FakeVLLMServer`, a named stand-in for a GPU
teacher served by vLLM over the OpenAI API (no GPU server exists on the test machines)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeVLLMServer:
    """Answers OpenAI chat completions with `reply`; after `answer_limit` answers it refuses with 503 (down)."""

    def __init__(self, reply: str, answer_limit: int | None = None):
        self.reply, self.answer_limit, self.answered, self.requests = reply, answer_limit, 0, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.answer_limit is not None and server.answered >= server.answer_limit:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "the teacher is down"}}')
                    return
                server.answered += 1
                payload = {
                    "id": "fake",
                    "model": body.get("model", "fake-teacher"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": server.reply}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_vllm() -> Iterator[Any]:
    servers: list[FakeVLLMServer] = []

    def start(reply: str, answer_limit: int | None = None) -> FakeVLLMServer:
        servers.append(FakeVLLMServer(reply, answer_limit))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def _run_directories_removed() -> Iterator[None]:
    """A test's run directories (model weights) are removed after it: the database rows are rolled back anyway."""
    import shutil
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.MODELS_DIR) / "distillation"
    before = set(root.iterdir()) if root.exists() else set()
    yield
    for path in set(root.iterdir()) - before if root.exists() else ():
        if path.name.startswith("test_"):  # the test database's runs only, never a development run's
            shutil.rmtree(path, ignore_errors=True)
