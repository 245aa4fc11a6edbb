"""`OpenAIBackend` over real HTTP: against the real model server (llama.cpp's llama-server, started by
tests/models_runtime/conftest.py), and against small stdlib servers that are down, slow, failing or
answering nonsense. The stream, cancel and too-long-prompt cases against llama-server are in
test_llama_server.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from models_runtime.backends import openai as openai_backend
from models_runtime.backends.openai import OpenAIBackend
from models_runtime.conversion import DEFAULT_STUDENT_NAME
from models_runtime.errors import ModelServerError, PromptTooLongError
from models_runtime.types import ChatRequest
from tests.models_runtime.conftest import LlamaServer, free_port, slots_busy

QUESTION = [{"role": "user", "content": "What is 7 times 6? Answer briefly."}]
LONG_QUESTION = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]


@pytest.fixture
def backend(llama_server: LlamaServer) -> OpenAIBackend:
    return OpenAIBackend(base_url=llama_server.base_url, model=DEFAULT_STUDENT_NAME, timeout=120)


def ask(messages: list[dict[str, str]] = QUESTION, **options: Any) -> ChatRequest:
    return ChatRequest(messages=messages, **{"max_new_tokens": 12, **options})


def wait_until_idle(server: LlamaServer) -> int:
    deadline = time.monotonic() + 30
    while slots_busy(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    return slots_busy(server)


# --- against llama-server -----------------------------------------------------------------------
def test_complete_returns_the_text_and_usage(backend: OpenAIBackend) -> None:
    result = backend.complete(ask())

    assert "42" in result.text
    assert result.model == DEFAULT_STUDENT_NAME
    assert result.prompt_tokens > 5
    assert 0 < result.completion_tokens <= 12
    assert result.finish_reason in ("stop", "length")


def test_complete_batch_keeps_the_order_of_the_requests(backend: OpenAIBackend) -> None:
    # Counting never ends early, so each reply uses exactly its own token budget: a mixed-up order shows.
    budgets = [5, 9, 7, 11]

    results = backend.complete_batch([ask(LONG_QUESTION, max_new_tokens=budget) for budget in budgets])

    assert [result.completion_tokens for result in results] == budgets
    assert all(result.finish_reason == "length" and result.text for result in results)


def test_a_second_turn_reads_only_what_the_first_did_not(backend: OpenAIBackend) -> None:
    # The server's prompt cache, as the product's prompts use it (a stable prefix, then what is new): the
    # next turn of a dialogue reads only its new tokens.
    first = [{"role": "system", "content": "You are a patient maths tutor. " * 12}, *QUESTION]
    backend.complete(ask(first))
    handle = backend.submit(ask([*first, {"role": "assistant", "content": "42."}, *QUESTION]))
    result = handle.result()

    timings = result.extra["server_timings"]
    assert timings["cache_n"] > 100  # the first turn's prompt, from the cache
    assert 0 < timings["prompt_n"] < 40  # only the new turn was read
    assert result.extra["cached_prompt_tokens"] == timings["cache_n"]


def test_cancel_from_another_thread_unblocks_the_reader(backend: OpenAIBackend, llama_server: LlamaServer) -> None:
    handle = backend.submit(ask(LONG_QUESTION, max_new_tokens=400))
    pieces: list[str] = []
    reader = threading.Thread(target=lambda: pieces.extend(handle))
    reader.start()
    while len(pieces) < 2 and reader.is_alive():
        time.sleep(0.01)

    handle.cancel()
    reader.join(timeout=30)

    assert not reader.is_alive()
    assert handle.result().finish_reason == "cancelled"
    assert len(pieces) < 400
    assert wait_until_idle(llama_server) == 0


@pytest.mark.timeout(120)
def test_a_dropped_stream_is_closed_without_waiting_for_the_lock_its_collector_holds(
    backend: OpenAIBackend, llama_server: LlamaServer
) -> None:
    handle = backend.submit(ask(LONG_QUESTION, max_new_tokens=400))
    next(iter(handle))
    response = handle._response
    # The garbage collector can finalise a dropped handle while this thread is inside httpx's connection
    # pool, holding its lock (not re-entrant): closing the response there waited for that lock for ever.
    with backend._client._transport._pool._optional_thread_lock:  # type: ignore[attr-defined]
        handle.__del__()
    deadline = time.monotonic() + 30
    while not response.is_closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert response.is_closed
    assert wait_until_idle(llama_server) == 0  # the server stopped writing too


def test_a_wrong_model_name_is_a_clear_server_error(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(base_url=llama_server.base_url, model="gpt-9", max_retries=0)

    with pytest.raises(ModelServerError, match=r"HTTP 4\d\d.*gpt-9"):
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

    def __init__(
        self, answer: Callable[[int], Reply], delay: float | Callable[[dict[str, Any]], float] = 0.0, port: int = 0
    ):
        self.answer = answer
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                sent = json.loads(self.rfile.read(length) or b"{}")
                fake.bodies.append(sent)
                status, content_type, body = fake.answer(len(fake.bodies))
                seconds = fake.delay(sent) if callable(fake.delay) else fake.delay
                if seconds:
                    time.sleep(seconds)
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

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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

    def start(answer: Callable[[int], Reply], delay: float | Callable[[dict[str, Any]], float] = 0.0) -> FakeServer:
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


def test_a_request_that_timed_out_is_not_sent_again(fake_server: Callable[..., FakeServer]) -> None:
    # The server took the request and is still writing: a second copy would only double its load.
    server = fake_server(lambda _: (200, "application/json", CHAT_OK), delay=3)
    backend = server.backend(timeout=0.5, max_retries=3)

    with pytest.raises(ModelServerError, match=r"did not answer within 0\.5 s") as raised:
        backend.complete(ask())
    assert len(server.bodies) == 1
    with pytest.raises(ModelServerError, match=r"did not answer within 0\.5 s"):
        backend.submit(ask())  # a stream whose first bytes do not come in time: the same

    assert server.base_url in str(raised.value)
    assert len(server.bodies) == 2  # one each, none resent


def test_a_timed_out_batch_sends_each_request_once(fake_server: Callable[..., FakeServer]) -> None:
    server = fake_server(lambda _: (200, "application/json", CHAT_OK), delay=3)

    with pytest.raises(ModelServerError, match="did not answer"):
        server.backend(timeout=0.5, max_retries=3).complete_batch([ask() for _ in range(4)])

    assert len(server.bodies) == 4


def test_a_bounded_batch_returns_what_was_written_in_time_and_sends_nothing_twice(
    fake_server: Callable[..., FakeServer],
) -> None:
    # The reply with a 99-token budget is slow; the others are written at once.
    server = fake_server(
        lambda _: (200, "application/json", CHAT_OK), delay=lambda sent: 5 * (sent["max_tokens"] == 99)
    )
    requests = [ask(max_new_tokens=budget) for budget in (10, 99, 11, 12)]

    results = server.backend(timeout=60, max_retries=3).complete_batch_within(requests, seconds=1.0)

    assert [result is None for result in results] == [False, True, False, False]
    assert all(result.text == "forty-two" for result in results if result is not None)
    assert sorted(body["max_tokens"] for body in server.bodies) == [10, 11, 12, 99]


def test_a_bounded_batch_still_says_the_server_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend.time, "sleep", lambda seconds: None)
    backend = OpenAIBackend(base_url=f"http://127.0.0.1:{free_port()}/v1", model="any", max_retries=1)

    with pytest.raises(ModelServerError, match="connection refused"):
        backend.complete_batch_within([ask(), ask()], seconds=30)


def test_a_504_is_not_retried(fake_server: Callable[..., FakeServer]) -> None:
    # A gateway gave up waiting: the server behind it is still writing.
    server = fake_server(lambda _: (504, "text/plain", "Gateway Timeout"))

    with pytest.raises(ModelServerError, match="HTTP 504"):
        server.backend(max_retries=3).complete(ask())

    assert len(server.bodies) == 1


def test_a_server_that_comes_up_during_the_backoff_answers_the_one_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # Connection refused (the server is still starting) is retried; the server then counts one request.
    port = free_port()
    backend = OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", model="fake", max_retries=3)
    started: list[FakeServer] = []
    waits: list[float] = []

    def wait_and_start(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # refused twice, then the server is up
            started.append(FakeServer(lambda _: (200, "application/json", CHAT_OK), port=port))

    monkeypatch.setattr(openai_backend.time, "sleep", wait_and_start)
    try:
        result = backend.complete(ask())
    finally:
        for server in started:
            server.close()

    assert result.text == "forty-two"
    assert waits == [0.25, 0.5]
    assert len(started[0].bodies) == 1


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
