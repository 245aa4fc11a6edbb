"""An OpenAI-compatible HTTP server over a `LocalEngine` (run it with `manage.py serve_model`).

    GET  /health               {"status": "ok", "model": ..., "requests_in_flight": n}
    GET  /v1/models            the one served model, in OpenAI's list format
    POST /v1/chat/completions  OpenAI chat completions, plain or streamed (server-sent events)

Generation blocks, so each request waits for the engine in a worker thread: concurrent requests reach
the engine together and its scheduler runs them in shared forward passes. A client that goes away
cancels its generation, so the engine stops spending time on it. The app runs on asyncio (uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from models_runtime.errors import ModelError, PromptTooLongError
from models_runtime.types import ChatRequest, ChatResult

if TYPE_CHECKING:
    from models_runtime.backends.local import GenerationHandle, LocalEngine

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
ROLES = {"system", "user", "assistant", "tool", "developer"}


class BadRequest(Exception):
    """Invalid input: answered as a 400 OpenAI-style error."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_request"):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class _Call:
    request: ChatRequest
    stream: bool
    include_usage: bool


def error_response(
    status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> JSONResponse:
    """An error in OpenAI's shape, which OpenAI clients (and ours) know how to read."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def create_app(
    engine: LocalEngine,
    *,
    served_model_name: str,
    default_max_tokens: int = 256,
    max_waiting_threads: int = 256,
) -> Starlette:
    """The ASGI app serving `engine` under the model name `served_model_name`."""
    service = _Service(engine, served_model_name, default_max_tokens, max_waiting_threads)
    return Starlette(
        routes=[
            Route("/health", service.health, methods=["GET"]),
            Route("/v1/models", service.models, methods=["GET"]),
            Route("/v1/chat/completions", service.chat_completions, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        max_body_size=MAX_BODY_BYTES,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = f"There is no {request.url.path} here: use /v1/chat/completions, /v1/models or /health."
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(error.detail)
    return error_response(error.status_code, message, code=str(error.status_code))


async def _server_error(request: Request, error: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return error_response(
        500, "The model server failed while answering; its log says why.", kind="server_error", code="internal_error"
    )


class _Stream:
    """One streamed reply; `close()` runs once however the response ends."""

    def __init__(self, service: _Service, handle: GenerationHandle, include_usage: bool):
        self.service = service
        self.handle = handle
        self.include_usage = include_usage
        self.is_done = False
        self.is_closed = False

    def close(self) -> None:
        if self.is_closed:
            return
        self.is_closed = True
        self.service.in_flight -= 1
        if not self.is_done:
            # The client went away (the response task was cancelled, the generator closed, or it never
            # started): stop generating for nobody.
            self.handle.cancel()


class _EventStream(StreamingResponse):
    def __init__(self, events: AsyncIterator[str], stream: _Stream):
        super().__init__(
            events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also covers a disconnect before the body generator started, when its own `finally` never runs.
            self.stream.close()


class _Service:
    def __init__(self, engine: LocalEngine, served_model_name: str, default_max_tokens: int, max_threads: int):
        self.engine = engine
        self.model_name = served_model_name
        self.default_max_tokens = default_max_tokens
        self.started = int(time.time())
        self.in_flight = 0
        # A plain completion holds a worker thread while the engine writes it (streams have their own
        # thread); anyio's default pool (40) would make the 41st wait for a thread rather than joining
        # the engine's next batch.
        self.limiter = anyio.CapacityLimiter(max_threads)

    # --- endpoints ----------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": self.model_name, "requests_in_flight": self.in_flight})

    async def models(self, request: Request) -> Response:
        card = {
            "id": self.model_name,
            "object": "model",
            "created": self.started,
            "owned_by": "tutorloop",
            "max_model_len": getattr(self.engine, "context_window", None),
        }
        return JSONResponse({"object": "list", "data": [card]})

    async def chat_completions(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError as error:
            return error_response(400, f"The request body is not valid JSON: {error}.", code="invalid_json")
        try:
            call = self._parse(body)
            if call.request.json_schema is not None:
                await self._check_schema(call.request.json_schema)
        except BadRequest as bad:
            return error_response(400, bad.message, code=bad.code, param=bad.param)

        try:
            handle = await anyio.to_thread.run_sync(self.engine.submit, call.request, limiter=self.limiter)
        except PromptTooLongError as error:
            context = getattr(self.engine, "context_window", None)
            prefix = f"This model's maximum context length is {context:,} tokens. " if context else ""
            return error_response(400, prefix + error.message, code="context_length_exceeded", param="messages")
        except ModelError as error:
            return error_response(error.status_code, error.message, kind="server_error", code=error.code)
        except Exception as error:
            if _is_template_error(error):
                message = f"The messages do not fit the model's chat template: {error}."
                return error_response(400, message, code="invalid_messages", param="messages")
            raise

        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        self.in_flight += 1
        if call.stream:
            stream = _Stream(self, handle, call.include_usage)
            return _EventStream(self._events(stream, completion_id, created), stream)
        try:
            result = await self._result_unless_gone(handle, request.receive)
        except ModelError as error:
            return error_response(error.status_code, error.message, kind="server_error", code=error.code)
        finally:
            self.in_flight -= 1
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": self.model_name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": result.text},
                        "logprobs": None,
                        "finish_reason": _finish_reason(result),
                    }
                ],
                "usage": _usage(result),
            }
        )

    # --- generation ---------------------------------------------------------------------------
    async def _result_unless_gone(self, handle: GenerationHandle, receive: Receive) -> ChatResult:
        """Wait for the whole reply; cancel it if the client disconnects first (it timed out, say)."""
        outcome: list[ChatResult | Exception] = []

        async def watch_for_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    handle.cancel()
                    return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_for_disconnect)
            try:
                outcome.append(await anyio.to_thread.run_sync(handle.result, limiter=self.limiter))
            except Exception as error:  # raised below, outside the task group that would wrap it in a group
                outcome.append(error)
            tasks.cancel_scope.cancel()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    async def _events(self, stream: _Stream, completion_id: str, created: int) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.model_name,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                }
            )

        try:
            yield chunk({"role": "assistant", "content": ""})
            async for text in _pieces(stream.handle):
                yield chunk({"content": text})
            result = stream.handle.result()  # drained already: returns at once
            stream.is_done = True
            yield chunk({}, _finish_reason(result))
            if stream.include_usage:
                yield _sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": self.model_name,
                        "choices": [],
                        "usage": _usage(result),
                    }
                )
            yield "data: [DONE]\n\n"
        except ModelError as error:
            # Headers are sent already: the error travels as an event, as vLLM does.
            stream.is_done = True
            logger.warning("generation failed mid-stream: %s", error.message)
            yield _sse({"error": {"message": error.message, "type": "server_error", "param": None, "code": error.code}})
            yield "data: [DONE]\n\n"
        finally:
            stream.close()

    async def _check_schema(self, schema: dict[str, Any]) -> None:
        """Compile the schema now (cached by the engine) so a bad one is a 400, not a failed batch."""
        compile_schema = getattr(self.engine, "_compiled_grammar", None)
        if compile_schema is None:
            return
        try:
            await anyio.to_thread.run_sync(compile_schema, schema, limiter=self.limiter)
        except ImportError:
            raise
        except Exception as error:
            raise BadRequest(
                f"The JSON schema cannot be used for constrained decoding: {error}",
                param="response_format",
                code="invalid_json_schema",
            ) from error

    # --- input --------------------------------------------------------------------------------
    def _parse(self, body: Any) -> _Call:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = body.get("model")
        if model is not None and model != self.model_name:
            raise BadRequest(
                f"The model `{model}` does not exist here; this server serves `{self.model_name}`.",
                param="model",
                code="model_not_found",
            )
        messages = _messages(body.get("messages"))
        n = body.get("n", 1)
        if n not in (None, 1):
            raise BadRequest("Only n=1 is supported.", param="n")
        if body.get("tools"):
            raise BadRequest("Tools are not supported by this server.", param="tools")
        if body.get("logprobs"):
            raise BadRequest("Log probabilities are not supported by this server.", param="logprobs")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is None:
            max_tokens = self.default_max_tokens
        elif not _is_int(max_tokens) or max_tokens < 1:
            raise BadRequest("max_tokens must be a positive integer.", param="max_tokens")
        temperature = _number(body, "temperature", default=1.0, low=0.0, high=2.0)
        top_p = _number(body, "top_p", default=1.0, low=0.0, high=1.0)
        if top_p == 0:
            raise BadRequest("top_p must be greater than 0.", param="top_p")
        seed = body.get("seed")
        if seed is not None and not _is_int(seed):
            raise BadRequest("seed must be an integer.", param="seed")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("stream must be true or false.", param="stream")
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise BadRequest("stream_options must be an object.", param="stream_options")
        return _Call(
            request=ChatRequest(
                messages=messages,
                max_new_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=_stops(body.get("stop")),
                json_schema=_json_schema(body),
                seed=seed,
            ),
            stream=stream,
            include_usage=bool(options.get("include_usage")),
        )


# --- input helpers ----------------------------------------------------------------------------
def _messages(value: Any) -> list[dict[str, str]]:
    if value is None:
        raise BadRequest("messages is required: a list of {role, content} objects.", param="messages")
    if not isinstance(value, list) or not value:
        raise BadRequest("messages must be a non-empty list of {role, content} objects.", param="messages")
    messages: list[dict[str, str]] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object with role and content.", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(f"{where}.role must be one of {', '.join(sorted(ROLES))}.", param=f"{where}.role")
        messages.append({"role": "system" if role == "developer" else role, "content": _content(message, where)})
    return messages


def _content(message: dict[str, Any], where: str) -> str:
    content = message.get("content")
    if content is None and message.get("role") == "assistant":
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise BadRequest(f"{where}.content may only hold text parts.", param=f"{where}.content")
            texts.append(part["text"])
        return "".join(texts)
    raise BadRequest(f"{where}.content must be a string or a list of text parts.", param=f"{where}.content")


def _number(body: dict[str, Any], name: str, *, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"{name} must be a number from {low:g} to {high:g}.", param=name)
    return float(value)


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest("stop must be a string or a list of strings.", param="stop")
    return tuple(item for item in value if item)  # an empty stop string would end every reply at once


def _json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema from vLLM's structured_outputs.json, its older guided_json, or OpenAI's response_format."""
    structured = body.get("structured_outputs")
    if isinstance(structured, dict) and structured.get("json") is not None:
        return _schema_object(structured["json"], "structured_outputs.json")
    if body.get("guided_json") is not None:
        return _schema_object(body["guided_json"], "guided_json")
    response_format = body.get("response_format")
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise BadRequest("response_format must be an object.", param="response_format")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise BadRequest("response_format.json_schema must hold a schema.", param="response_format")
        return _schema_object(spec["schema"], "response_format.json_schema.schema")
    raise BadRequest("response_format.type must be text, json_object or json_schema.", param="response_format")


def _schema_object(value: Any, param: str) -> dict[str, Any]:
    if isinstance(value, str):  # vLLM accepts the schema as a JSON string too
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRequest(f"{param} is not valid JSON.", param=param) from None
    if not isinstance(value, dict):
        raise BadRequest(f"{param} must be a JSON schema object.", param=param)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_template_error(error: Exception) -> bool:
    try:
        from jinja2 import TemplateError
    except ImportError:  # pragma: no cover - transformers depends on jinja2
        return False
    return isinstance(error, TemplateError)


# --- output helpers ---------------------------------------------------------------------------
_END = object()


async def _pieces(handle: GenerationHandle) -> AsyncIterator[str]:
    """The handle's text pieces, read by a thread of its own and handed to the event loop.

    Iterating the handle blocks, so a thread does it. One thread per stream that posts each piece to the
    loop costs the loop a few microseconds a token; a thread-pool round trip per piece (anyio.to_thread)
    cost it about 40-120. Pieces that pile up while the loop is busy go out together as one chunk.
    """
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def post(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is stopping
            loop.call_soon_threadsafe(inbox.put_nowait, item)

    def pump() -> None:
        try:
            for piece in handle:
                post(piece)
        except BaseException as error:  # handed to the loop, which raises it in the response
            post(_Failure(error))
        else:
            post(_END)

    threading.Thread(target=pump, name="stream-pump", daemon=True).start()
    while True:
        item = await inbox.get()
        texts: list[str] = []
        while isinstance(item, str):
            texts.append(item)
            item = inbox.get_nowait() if not inbox.empty() else None
        if texts:
            yield "".join(texts)
        if item is _END:
            return
        if isinstance(item, _Failure):
            raise item.error


@dataclass(frozen=True)
class _Failure:
    error: BaseException


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _finish_reason(result: ChatResult) -> str:
    return "length" if result.finish_reason == "length" else "stop"


def _usage(result: ChatResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }
