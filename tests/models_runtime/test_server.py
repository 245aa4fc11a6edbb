"""`manage.py serve_model` answers the OpenAI chat completions API over real HTTP.

One serve_model subprocess (the default student model) serves this file and test_openai_backend.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = "smollm2-135m-instruct"
STARTUP_SECONDS = 180  # the first run converts the default model from GGUF
QUESTION = [{"role": "user", "content": "What is 7 times 6? Answer briefly."}]
LONG_QUESTION = [{"role": "user", "content": "Count from 1 to 200, separated by commas."}]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ModelServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class _SharedServer:
    """One subprocess for both test files: a fixture imported into another module is a second fixture
    to pytest (with its own session cache), so the process is shared and counted here."""

    lock = threading.Lock()
    server: ModelServer | None = None
    users = 0

    @classmethod
    def acquire(cls) -> ModelServer:
        with cls.lock:
            if cls.server is None:
                cls.server = _start_server()
            cls.users += 1
            return cls.server

    @classmethod
    def release(cls) -> None:
        with cls.lock:
            cls.users -= 1
            if cls.users == 0 and cls.server is not None:
                _stop_server(cls.server)
                cls.server = None


def _start_server() -> ModelServer:
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="serve_model-", suffix=".log")[1])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "serve_model",
                "--settings",
                "config.settings.test",
                "--port",
                str(port),
                # The suite shares two cores with the server: one torch thread avoids OpenMP threads
                # spinning against each other (several times slower on a busy machine).
                "--threads",
                "1",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ModelServer(process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve_model exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    _stop_server(server)
    raise RuntimeError(f"serve_model did not answer /health within {STARTUP_SECONDS} s:\n{server.log()}")


def _stop_server(server: ModelServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    server = _SharedServer.acquire()
    try:
        yield server
    finally:
        _SharedServer.release()


@pytest.fixture(scope="session")
def http(model_server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=model_server.url, timeout=60) as client:
        yield client


def chat(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": MODEL, "temperature": 0, **body})


def sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and "code" in error
    assert "Traceback" not in response.text
    return error


# --- the read-only endpoints ------------------------------------------------------------------
def test_health_names_the_model(http: httpx.Client) -> None:
    response = http.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["model"] == MODEL


def test_models_lists_the_served_model_in_openai_format(http: httpx.Client) -> None:
    body = http.get("/v1/models").json()

    assert body["object"] == "list"
    assert [card["id"] for card in body["data"]] == [MODEL]
    assert body["data"][0]["object"] == "model"


# --- completions --------------------------------------------------------------------------------
def test_completion_has_the_openai_shape(http: httpx.Client) -> None:
    body = chat(http, messages=QUESTION, max_tokens=12).json()

    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == MODEL
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5
    assert 0 < usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_sends_chunks_finish_reason_usage_and_done(http: httpx.Client) -> None:
    expected = chat(http, messages=QUESTION, max_tokens=12).json()["choices"][0]["message"]["content"]

    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": QUESTION,
            "max_tokens": 12,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)

    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [chunk["choices"][0]["delta"].get("content", "") for chunk in chunks if chunk["choices"]]
    assert "".join(content) == expected
    assert sum(1 for piece in content if piece) > 1  # streamed in pieces, not in one lump
    finishing = [chunk for chunk in chunks if chunk["choices"] and chunk["choices"][0]["finish_reason"]]
    assert len(finishing) == 1 and finishing[0]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 1


@pytest.mark.parametrize(
    "fields",
    [
        {"response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": "SCHEMA"}}},
        {"structured_outputs": {"json": "SCHEMA"}},
        {"guided_json": "SCHEMA"},
    ],
    ids=["response_format", "structured_outputs", "guided_json"],
)
def test_json_schema_is_followed_whichever_field_carries_it(http: httpx.Client, fields: dict[str, Any]) -> None:
    schema = {
        "type": "object",
        "properties": {"correct": {"type": "boolean"}},
        "required": ["correct"],
        "additionalProperties": False,
    }
    fields = json.loads(json.dumps(fields).replace('"SCHEMA"', json.dumps(schema)))
    messages = [{"role": "user", "content": "Is 7 times 6 equal to 42? Reply in JSON."}]

    body = chat(http, messages=messages, max_tokens=16, **fields).json()

    answer = json.loads(body["choices"][0]["message"]["content"])
    assert set(answer) == {"correct"} and isinstance(answer["correct"], bool)


def test_stop_strings_end_the_reply_before_them(http: httpx.Client) -> None:
    full = chat(http, messages=QUESTION, max_tokens=12).json()["choices"][0]["message"]["content"]
    words = full.split()
    assert len(words) >= 3, full
    stop = " " + words[2]

    stopped = chat(http, messages=QUESTION, max_tokens=12, stop=[stop]).json()

    assert stopped["choices"][0]["message"]["content"] == full[: full.index(stop)]
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_concurrent_streams_all_finish_with_their_own_text(model_server: ModelServer) -> None:
    prompts = [[{"role": "user", "content": f"What is {n} plus {n}?"}] for n in range(2, 6)]
    texts: dict[int, str] = {}

    def stream(index: int) -> None:
        with (
            httpx.Client(base_url=model_server.url, timeout=60) as client,
            client.stream(
                "POST",
                "/v1/chat/completions",
                json={"messages": prompts[index], "max_tokens": 10, "temperature": 0, "stream": True},
            ) as response,
        ):
            pieces = []
            for event in sse_events(response):
                if event != "[DONE]":
                    pieces.extend(c["delta"].get("content", "") for c in json.loads(event)["choices"])
            texts[index] = "".join(pieces)

    threads = [threading.Thread(target=stream, args=(index,)) for index in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(texts) == [0, 1, 2, 3]
    assert all(text.strip() for text in texts.values())


# --- going away ---------------------------------------------------------------------------------
def test_client_disconnect_mid_stream_stops_the_generation(http: httpx.Client, model_server: ModelServer) -> None:
    with (
        httpx.Client(base_url=model_server.url, timeout=60) as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json={"messages": LONG_QUESTION, "max_tokens": 400, "temperature": 0, "stream": True},
        ) as response,
    ):
        lines = response.iter_lines()
        content_events = 0
        for line in lines:
            if line.startswith("data: ") and '"content":"' in line and '"content":""' not in line:
                content_events += 1
                if content_events == 2:
                    break
        assert http.get("/health").json()["requests_in_flight"] == 1
    # The connection is closed here, 398 tokens early.

    started = time.monotonic()
    while http.get("/health").json()["requests_in_flight"] and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert http.get("/health").json()["requests_in_flight"] == 0
    # Had the engine gone on with the cancelled reply, this one would wait for its 400 tokens.
    started = time.monotonic()
    assert chat(http, messages=QUESTION, max_tokens=4).status_code == 200
    assert time.monotonic() - started < 10


def test_a_client_that_gives_up_on_a_plain_completion_cancels_it(http: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{http.base_url}/v1/chat/completions",
            json={"messages": LONG_QUESTION, "max_tokens": 400, "temperature": 0},
            timeout=httpx.Timeout(60, read=1.5),
        )

    started = time.monotonic()
    while http.get("/health").json()["requests_in_flight"] and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert http.get("/health").json()["requests_in_flight"] == 0


# --- bad requests -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([QUESTION], None),
        ({}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hello"]}, "messages[0]"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"messages": QUESTION, "max_tokens": "ten"}, "max_tokens"),
        ({"messages": QUESTION, "max_tokens": 0}, "max_tokens"),
        ({"messages": QUESTION, "max_tokens": True}, "max_tokens"),
        ({"messages": QUESTION, "temperature": 5}, "temperature"),
        ({"messages": QUESTION, "top_p": "high"}, "top_p"),
        ({"messages": QUESTION, "stop": 3}, "stop"),
        ({"messages": QUESTION, "stream": "yes"}, "stream"),
        ({"messages": QUESTION, "n": 2}, "n"),
        ({"messages": QUESTION, "model": "gpt-9"}, "model"),
        ({"messages": QUESTION, "response_format": {"type": "yaml"}}, "response_format"),
        ({"messages": QUESTION, "response_format": {"type": "json_schema"}}, "response_format"),
        ({"messages": QUESTION, "guided_json": {"type": "no-such-type"}}, "response_format"),
    ],
)
def test_bad_requests_get_openai_style_400s(http: httpx.Client, body: Any, param: str | None) -> None:
    error = assert_openai_error(http.post("/v1/chat/completions", json=body), 400)

    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_a_body_that_is_not_json_gets_a_400(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})

    assert assert_openai_error(response, 400)["code"] == "invalid_json"


def test_a_prompt_longer_than_the_context_gets_a_400_about_context_length(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "fraction " * 9000}]

    error = assert_openai_error(chat(http, messages=messages, max_tokens=8), 400)

    assert error["code"] == "context_length_exceeded"
    assert "context length" in error["message"]


def test_unknown_paths_and_methods_get_openai_style_errors(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/nothing-here"), 404)
    assert_openai_error(http.get("/v1/chat/completions"), 405)
