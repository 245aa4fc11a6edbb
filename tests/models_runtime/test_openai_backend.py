"""`OpenAIBackend` over real HTTP: against `serve_model`, and against small stdlib servers that are down,
slow, failing or answering nonsense."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from models_runtime.backends import openai as openai_backend
from models_runtime.backends.openai import OpenAIBackend
from models_runtime.errors import ModelServerError, PromptTooLongError
from models_runtime.types import ChatRequest
from tests.models_runtime.test_server import (
    LONG_QUESTION,
    MODEL,
    QUESTION,
    ModelServer,
    free_port,
    model_server,  # noqa: F401 - the shared serve_model fixture
)


@pytest.fixture(scope="session")
def backend(model_server: ModelServer) -> OpenAIBackend:  # noqa: F811
    return OpenAIBackend(base_url=model_server.base_url, model=MODEL, timeout=60)


def ask(messages: list[dict[str, str]] = QUESTION, **options: Any) -> ChatRequest:
    return ChatRequest(messages=messages, **{"max_new_tokens": 12, **options})


# --- against serve_model ------------------------------------------------------------------------
def test_complete_returns_the_text_and_usage(backend: OpenAIBackend) -> None:
    result = backend.complete(ask())

    assert result.text.strip()
    assert result.model == MODEL
    assert result.prompt_tokens > 5
    assert 0 < result.completion_tokens <= 12
    assert result.finish_reason in ("stop", "length")


def test_stream_pieces_join_to_the_same_text_as_a_plain_completion(backend: OpenAIBackend) -> None:
    expected = backend.complete(ask())

    handle = backend.submit(ask())
    pieces = list(handle)
    result = handle.result()

    assert len(pieces) > 1
    assert "".join(pieces) == result.text == expected.text
    assert result.completion_tokens == expected.completion_tokens
    assert result.prompt_tokens == expected.prompt_tokens
    assert result.finish_reason == expected.finish_reason
    assert result.extra["first_token_seconds"] > 0


def test_complete_batch_keeps_the_order_of_the_requests(backend: OpenAIBackend) -> None:
    # Counting never ends early, so each reply uses exactly its own token budget: a mixed-up order shows.
    budgets = [5, 9, 7, 11]

    results = backend.complete_batch([ask(LONG_QUESTION, max_new_tokens=budget) for budget in budgets])

    assert [result.completion_tokens for result in results] == budgets
    assert all(result.finish_reason == "length" and result.text for result in results)


def test_json_schema_output_parses_and_validates(backend: OpenAIBackend) -> None:
    class Verdict(BaseModel):
        correct: bool
        confidence: int = Field(ge=0, le=9)

    messages = [{"role": "user", "content": "Is 7 times 6 equal to 42? Answer in JSON."}]

    result = backend.complete(ask(messages, max_new_tokens=24, json_schema=Verdict.model_json_schema()))

    verdict = Verdict.model_validate_json(result.text)
    assert json.loads(result.text) == verdict.model_dump()


def test_cancel_mid_stream_stops_reading_and_the_server(backend: OpenAIBackend, model_server: ModelServer) -> None:  # noqa: F811
    handle = backend.submit(ask(LONG_QUESTION, max_new_tokens=400))
    pieces = iter(handle)
    first = [next(pieces), next(pieces)]

    handle.cancel()
    rest = list(pieces)
    result = handle.result()

    assert rest == []
    assert result.finish_reason == "cancelled"
    assert result.text == "".join(first)
    deadline = time.monotonic() + 10
    while httpx.get(f"{model_server.url}/health").json()["requests_in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{model_server.url}/health").json()["requests_in_flight"] == 0


def test_cancel_from_another_thread_unblocks_the_reader(backend: OpenAIBackend) -> None:
    handle = backend.submit(ask(LONG_QUESTION, max_new_tokens=400))
    pieces: list[str] = []
    reader = threading.Thread(target=lambda: pieces.extend(handle))
    reader.start()
    while len(pieces) < 2:
        time.sleep(0.01)

    handle.cancel()
    reader.join(timeout=10)

    assert not reader.is_alive()
    assert handle.result().finish_reason == "cancelled"
    assert len(pieces) < 100


@pytest.mark.timeout(60)
def test_a_dropped_stream_is_closed_without_waiting_for_the_lock_its_collector_holds(
    backend: OpenAIBackend,
    model_server: ModelServer,  # noqa: F811
) -> None:
    handle = backend.submit(ask(LONG_QUESTION, max_new_tokens=400))
    next(iter(handle))
    response = handle._response
    # The garbage collector can finalise a dropped handle while this thread is inside httpx's connection
    # pool, holding its lock (not re-entrant): closing the response there waited for that lock for ever.
    with backend._client._transport._pool._optional_thread_lock:  # type: ignore[attr-defined]
        handle.__del__()
    deadline = time.monotonic() + 10
    while not response.is_closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert response.is_closed
    while httpx.get(f"{model_server.url}/health").json()["requests_in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{model_server.url}/health").json()["requests_in_flight"] == 0  # the server stopped too


def test_a_prompt_longer_than_the_context_raises_prompt_too_long(backend: OpenAIBackend) -> None:
    messages = [{"role": "user", "content": "fraction " * 9000}]

    with pytest.raises(PromptTooLongError, match="context length"):
        backend.complete(ask(messages))
    with pytest.raises(PromptTooLongError):
        backend.submit(ask(messages))


def test_a_wrong_model_name_is_a_clear_server_error(model_server: ModelServer) -> None:  # noqa: F811
    backend = OpenAIBackend(base_url=model_server.base_url, model="gpt-9", max_retries=0)

    with pytest.raises(ModelServerError, match=r"HTTP 400.*gpt-9"):
        backend.complete(ask())


# --- against servers that misbehave -------------------------------------------------------------
Reply = tuple[int, str, str]  # status, content type, body
CHAT_OK = json.dumps(
    {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "forty-two"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
)


class FakeServer:
    """A stdlib HTTP server answering POSTs from a script; it records the bodies it was sent."""

    def __init__(self, answer: Callable[[int], Reply], delay: float = 0.0):
        self.answer = answer
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                fake.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                status, content_type, body = fake.answer(len(fake.bodies))
                time.sleep(fake.delay)
                try:
                    self.send_response(status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(body.encode())))
                    self.end_headers()
                    self.wfile.write(body.encode())
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def backend(self, **options: Any) -> OpenAIBackend:
        return OpenAIBackend(base_url=self.base_url, model="fake", **options)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(answer: Callable[[int], Reply], delay: float = 0.0) -> FakeServer:
        servers.append(FakeServer(answer, delay))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_server_that_is_down_is_named_after_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend(base_url=base_url, model="any", max_retries=2)
    waits: list[float] = []
    monkeypatch.setattr(openai_backend.time, "sleep", waits.append)

    with pytest.raises(ModelServerError, match="connection refused") as raised:
        backend.complete(ask())
    with pytest.raises(ModelServerError, match="connection refused"):
        backend.submit(ask())

    assert base_url in str(raised.value)
    assert waits == [0.25, 0.5, 0.25, 0.5]  # two retries each, with exponential backoff, then the error


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", "<html><body>Welcome to nginx!</body></html>"),
        ("application/json", '{"foo": 1}'),
        ("application/json", '{"choices": [{"message": {"content": 7}}]}'),
    ],
    ids=["html", "other-json", "content-not-text"],
)
def test_a_server_answering_nonsense_is_not_an_openai_server(
    fake_server: Callable[..., FakeServer], content_type: str, body: str
) -> None:
    server = fake_server(lambda _: (200, content_type, body))
    backend = server.backend(max_retries=3)

    with pytest.raises(ModelServerError, match="not an OpenAI chat completion") as raised:
        backend.complete(ask())
    with pytest.raises(ModelServerError, match="not an OpenAI chat completion"):
        list(backend.submit(ask()))

    assert server.base_url in str(raised.value)
    assert len(server.bodies) == 2  # nonsense is not retried


def test_a_stream_of_nonsense_events_is_not_an_openai_server(fake_server: Callable[..., FakeServer]) -> None:
    server = fake_server(lambda _: (200, "text/event-stream", "data: <b>hello</b>\n\ndata: [DONE]\n\n"))

    with pytest.raises(ModelServerError, match="not an OpenAI chat completion"):
        list(server.backend().submit(ask()))


def test_a_slow_server_fails_with_the_timeout(fake_server: Callable[..., FakeServer]) -> None:
    server = fake_server(lambda _: (200, "application/json", CHAT_OK), delay=3)
    backend = server.backend(timeout=0.5, max_retries=1)

    with pytest.raises(ModelServerError, match=r"did not answer within 0\.5 s") as raised:
        backend.complete(ask())

    assert server.base_url in str(raised.value)
    assert len(server.bodies) == 2  # a read timeout is transient: retried once, then the error


def test_503_twice_then_an_answer_succeeds(fake_server: Callable[..., FakeServer]) -> None:
    def answer(number: int) -> Reply:
        if number <= 2:
            return 503, "application/json", '{"error": {"message": "loading the model"}}'
        return 200, "application/json", CHAT_OK

    server = fake_server(answer)

    result = server.backend(max_retries=3).complete(ask())

    assert result.text == "forty-two"
    assert (result.prompt_tokens, result.completion_tokens) == (3, 2)
    assert len(server.bodies) == 3


def test_retries_are_bounded(fake_server: Callable[..., FakeServer]) -> None:
    server = fake_server(lambda _: (503, "application/json", '{"error": {"message": "overloaded"}}'))

    with pytest.raises(ModelServerError, match="HTTP 503: overloaded"):
        server.backend(max_retries=2).complete(ask())

    assert len(server.bodies) == 3


def test_a_400_is_not_retried_and_its_message_is_passed_on(fake_server: Callable[..., FakeServer]) -> None:
    server = fake_server(lambda _: (400, "application/json", '{"error": {"message": "top_p must be positive"}}'))

    with pytest.raises(ModelServerError, match="HTTP 400: top_p must be positive"):
        server.backend(max_retries=3).complete(ask())

    assert len(server.bodies) == 1


def test_a_vllm_context_length_error_is_prompt_too_long(fake_server: Callable[..., FakeServer]) -> None:
    message = "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens."
    server = fake_server(lambda _: (400, "application/json", json.dumps({"object": "error", "message": message})))

    with pytest.raises(PromptTooLongError, match="maximum context length is 2048"):
        server.backend().complete(ask())


def test_request_fields_are_mapped_for_openai_and_vllm(fake_server: Callable[..., FakeServer]) -> None:
    server = fake_server(lambda _: (200, "application/json", CHAT_OK))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}

    server.backend().complete(
        ChatRequest(
            messages=QUESTION, max_new_tokens=20, temperature=0.5, top_p=0.9, stop=("\n",), seed=3, json_schema=schema
        )
    )

    sent = server.bodies[0]
    assert sent["model"] == "fake" and sent["messages"] == QUESTION and sent["stream"] is False
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["stop"], sent["seed"]) == (
        20,
        0.5,
        0.9,
        ["\n"],
        3,
    )
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    assert sent["structured_outputs"] == {"json": schema}
    assert sent["guided_json"] == schema
