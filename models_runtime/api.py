"""The public surface of the model layer. Other apps import this module and nothing else of it.

    from models_runtime import api as models

    generation = models.chat(task="feedback", messages=[...])
    handle = models.chat_stream(task="tutor", messages=[...])   # iterate for text pieces
    answer, generation = models.chat_json(task="feedback", messages=[...], schema=MyPydanticModel)
    vectors = models.embed(["..."])

Every Generation carries `provenance`, a dict to store beside the output it made.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from pydantic import BaseModel, ValidationError

from models_runtime import model_server
from models_runtime.backends.base import Backend, StreamHandle
from models_runtime.embeddings import EMBEDDING_MODEL_NAME, embed, embedding_model_path
from models_runtime.errors import (
    ModelError,
    ModelFilesError,
    ModelNotFoundError,
    ModelServerError,
    PromptTooLongError,
    StructuredOutputError,
)
from models_runtime.hardware import cpu_has_bf16
from models_runtime.models import ActiveModel, ModelVersion
from models_runtime.prompts import PromptTemplate, prompt_load
from models_runtime.registry import (
    ActivationNeedsConfirmation,
    model_dir_for,
    version_activate,
    version_for_task,
    version_register,
)
from models_runtime.types import ChatRequest, ChatResult

__all__ = [
    "EMBEDDING_MODEL_NAME",
    "ActivationNeedsConfirmation",
    "ModelError",
    "ModelFilesError",
    "ModelNotFoundError",
    "ModelServerError",
    "ModelVersion",
    "PromptTemplate",
    "PromptTooLongError",
    "StructuredOutputError",
    "chat",
    "chat_batch",
    "chat_batch_within",
    "chat_json",
    "chat_stream",
    "cpu_has_bf16",
    "embed",
    "embedding_model_path",
    "model_dir_for",
    "prompt_load",
    "provenance",
    "task_has_active_version",
    "version_activate",
    "version_for_task",
    "version_register",
]

SchemaT = TypeVar("SchemaT", bound=BaseModel)
MODEL_SERVER_HINT = "Start it with `make run` (or `python manage.py model_server`), or set MODEL_SERVER_URL."


@dataclass
class Generation:
    text: str
    model_version: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    provenance: dict[str, Any] = field(default_factory=dict)


def provenance(version: ModelVersion | str, template: PromptTemplate | None = None) -> dict[str, Any]:
    """What to store with a generated output: the model version and the prompt template version."""
    name = version if isinstance(version, str) else version.name
    record: dict[str, Any] = {"model_version": name}
    if template is not None:
        record["prompt_template"] = template.label
    return record


def task_has_active_version(task: str) -> bool:
    """Whether an admin (or a job) has activated a version for `task`, rather than the settings' default."""
    return ActiveModel.objects.filter(task=task).exists()


def backend_for(version: ModelVersion) -> Backend:
    """Where `version` generates: its own endpoint, else the one model server, else this process.

    A local version goes to the model server (MODEL_SERVER_URL, llama.cpp's server, which loads the
    version's GGUF) under its own name; with MODEL_SERVER_URL empty (tests, a script that wants no server)
    it runs on the in-process engine, which also serves training and log-likelihood scoring."""
    from models_runtime.backends.openai import OpenAIBackend

    if version.backend == ModelVersion.Backend.OPENAI:
        return OpenAIBackend(
            base_url=version.location,
            model=version.served_model_name or version.name,
            api_key=settings.OPENAI_API_KEY,
            timeout=settings.OPENAI_TIMEOUT_SECONDS,
        )
    if model_server.server_url():
        return OpenAIBackend(
            base_url=model_server.server_url(),
            model=version.name,
            timeout=settings.OPENAI_TIMEOUT_SECONDS,
            start_hint=MODEL_SERVER_HINT,
        )
    from models_runtime.backends.local import engine_for

    return engine_for(model_dir_for(version), name=version.name)


def _request(messages: list[dict[str, str]], **options: Any) -> ChatRequest:
    options = {key: value for key, value in options.items() if value is not None}
    options.setdefault("max_new_tokens", settings.MODEL_MAX_NEW_TOKENS)
    if "stop" in options:
        options["stop"] = tuple(options["stop"])
    return ChatRequest(messages=messages, **options)


def _generation(result: ChatResult, version: ModelVersion, template: PromptTemplate | None) -> Generation:
    return Generation(
        text=result.text.strip(),
        model_version=version.name,
        finish_reason=result.finish_reason,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        provenance=provenance(version, template),
    )


def _prepared(
    task: str,
    messages: list[dict[str, str]],
    max_new_tokens: int | None,
    temperature: float,
    stop: Sequence[str],
    seed: int | None,
) -> tuple[ModelVersion, Backend, ChatRequest]:
    version = version_for_task(task)
    request = _request(messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop, seed=seed)
    return version, backend_for(version), request


def chat(
    *,
    task: str,
    messages: list[dict[str, str]],
    template: PromptTemplate | None = None,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
    seed: int | None = None,
) -> Generation:
    """The whole reply at once."""
    version, backend, request = _prepared(task, messages, max_new_tokens, temperature, stop, seed)
    return _generation(backend.complete(request), version, template)


def chat_batch(
    *,
    task: str,
    conversations: list[list[dict[str, str]]],
    template: PromptTemplate | None = None,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
    version: ModelVersion | None = None,
) -> list[Generation]:
    """Complete several conversations in one batch with the version serving `task` (or `version`, to measure a
    candidate before it serves anything)."""
    version = version or version_for_task(task)
    requests = [
        _request(messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop)
        for messages in conversations
    ]
    return [_generation(result, version, template) for result in backend_for(version).complete_batch(requests)]


def chat_batch_within(
    *,
    task: str,
    conversations: list[list[dict[str, str]]],
    seconds: float,
    template: PromptTemplate | None = None,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
) -> list[Generation | None]:
    """`chat_batch` for work that has a better answer than waiting: what the model server writes within
    `seconds` for the whole batch, None for each conversation it had not finished (that request is stopped,
    not sent again). The in-process engine writes them all (it has no server to share)."""
    version = version_for_task(task)
    requests = [
        _request(messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop)
        for messages in conversations
    ]
    backend = backend_for(version)
    bounded = getattr(backend, "complete_batch_within", None)
    results = bounded(requests, seconds=seconds) if bounded is not None else backend.complete_batch(requests)
    return [None if result is None else _generation(result, version, template) for result in results]


class Stream:
    """A reply being written: iterate for text pieces; `cancel()` when the reader goes away."""

    def __init__(self, handle: StreamHandle, version: ModelVersion, template: PromptTemplate | None):
        self._handle = handle
        self.version = version
        self.template = template

    def __iter__(self) -> Iterator[str]:
        return iter(self._handle)

    def cancel(self) -> None:
        self._handle.cancel()

    def result(self) -> Generation:
        return _generation(self._handle.result(), self.version, self.template)


def chat_stream(
    *,
    task: str,
    messages: list[dict[str, str]],
    template: PromptTemplate | None = None,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
    seed: int | None = None,
) -> Stream:
    """The reply piece by piece, as it is written (same arguments as `chat`)."""
    version, backend, request = _prepared(task, messages, max_new_tokens, temperature, stop, seed)
    return Stream(backend.submit(request), version, template)


def chat_json(
    *,
    task: str,
    messages: list[dict[str, str]],
    schema: type[SchemaT],
    template: PromptTemplate | None = None,
    max_new_tokens: int | None = None,
    attempts: int = 3,
) -> tuple[SchemaT, Generation]:
    """Ask for JSON matching a pydantic schema: constrained decoding, always validated, bounded retry."""
    version = version_for_task(task)
    backend = backend_for(version)
    json_schema = schema.model_json_schema()
    problems: list[str] = []
    for attempt in range(attempts):
        request = _request(
            messages,
            max_new_tokens=max_new_tokens,
            json_schema=json_schema,
            temperature=0.0 if attempt == 0 else 0.7,
            seed=attempt,
        )
        result = backend.complete(request)
        try:
            return schema.model_validate_json(result.text), _generation(result, version, template)
        except ValidationError as error:
            problems.append(f"attempt {attempt + 1}: {error.errors()[0]['msg'] if error.errors() else error}")
    raise StructuredOutputError(
        f"The model could not produce valid {schema.__name__} JSON in {attempts} attempts ({'; '.join(problems)})."
    )
