"""The `openai` backend: any OpenAI-compatible chat server (llama.cpp's server, vLLM, a hosted API).

Requests go over HTTP with httpx. Failures where the server never took the request (it is starting or
restarting: connection refused or not accepted, a kept-alive connection it had closed; or it answered
429/502/503, "busy" or "loading") are retried a bounded number of times with exponential backoff (at most
`max_retries`, waits from 0.25 s doubling up to 8 s). A request the server took and did not answer within
the timeout is NOT sent again: the server is still writing it (or stops when the connection closes), and a
second copy of a generation that was too slow for the timeout only doubles the load that made it slow. The
same holds for 504 (a gateway gave up waiting for the server). Errors that retrying cannot fix (a bad
request, a prompt longer than the context window, a wrong API key) are raised at once. Every error names
the server's URL and says what went wrong in words an admin can act on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from models_runtime.errors import ModelError, ModelServerError, ModelServerTimeoutError, PromptTooLongError
from models_runtime.types import ChatRequest, ChatResult

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Statuses that say the server did not take the request (busy, loading, its proxy could not reach it).
RETRY_STATUSES = frozenset({429, 502, 503})
MAX_BATCH_IN_FLIGHT = 8
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 8.0
# How the common servers word "the prompt does not fit": vLLM ("maximum context length"), OpenAI
# (code context_length_exceeded), llama.cpp ("exceeds the available context size").
CONTEXT_LENGTH_PATTERN = re.compile(
    r"context[ _](length|window|size)|maximum context|prompt is too long|too many tokens|input is too long",
    re.IGNORECASE,
)
NOT_A_COMPLETION = "answered something that is not an OpenAI chat completion"

# One connection pool per process, shared by every backend instance: `api.backend_for` makes a new
# instance per call, and a pool per instance would open a new connection (and leak it) each time.
# Keyed by the process id so a forked worker never reuses its parent's sockets.
_clients: dict[int, httpx.Client] = {}
_clients_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    pid = os.getpid()
    with _clients_lock:
        client = _clients.get(pid)
        if client is None:
            client = httpx.Client(
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
                follow_redirects=False,
            )
            _clients.clear()  # inherited from a parent process: never touch its sockets
            _clients[pid] = client
        return client


class _Transient(Exception):
    """A failure worth retrying; carries the error to raise if the retries run out."""

    def __init__(self, error: ModelServerError, retry_after: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server at `base_url` (for example http://host:8000/v1)."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "not-needed",
        timeout: float = 60.0,
        max_retries: int = 3,
        start_hint: str = "",
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.start_hint = start_hint  # said after "is not answering": how to start this server
        self.url = f"{self.base_url}/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key or 'not-needed'}", "Accept": "application/json"}
        # A server that drops packets should not hold a caller for the whole read timeout per attempt.
        self._timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        self._client = _shared_client()

    # --- public -------------------------------------------------------------------------------
    def complete(self, request: ChatRequest) -> ChatResult:
        return self._complete(request, self._timeout)

    def complete_batch(self, requests: list[ChatRequest]) -> list[ChatResult]:
        """Send the requests concurrently (at most 8 in flight) so the server can batch them."""
        if not requests:
            return []
        if len(requests) == 1:
            return [self.complete(requests[0])]
        with ThreadPoolExecutor(max_workers=min(MAX_BATCH_IN_FLIGHT, len(requests))) as pool:
            futures = [pool.submit(self.complete, request) for request in requests]
            return [future.result() for future in futures]

    def complete_batch_within(self, requests: list[ChatRequest], *, seconds: float) -> list[ChatResult | None]:
        """`complete_batch` that waits at most `seconds` for the whole batch (plus the connection retries'
        backoff): a reply not finished by then is None, and its request is not sent again. Its connection is
        closed, which stops llama.cpp's server writing it, so the next batch has the server to itself. Any
        other failure (the server is down, a bad request) is raised as `complete_batch` raises it."""
        deadline = time.monotonic() + seconds

        def within(request: ChatRequest) -> ChatResult | None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                return self._complete(request, httpx.Timeout(remaining, connect=min(remaining, 10.0)))
            except ModelServerTimeoutError:
                return None

        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(MAX_BATCH_IN_FLIGHT, len(requests))) as pool:
            futures = [pool.submit(within, request) for request in requests]
            return [future.result() for future in futures]

    def _complete(self, request: ChatRequest, timeout: httpx.Timeout) -> ChatResult:
        payload = self.payload(request, stream=False)
        started = time.monotonic()
        body = self._with_retries(lambda: self._post_json(payload, timeout))
        result = self._result_from_completion(body)
        result.extra["seconds"] = time.monotonic() - started
        return result

    def submit(self, request: ChatRequest) -> OpenAIStreamHandle:
        """Open a streaming request; the server starts generating before this returns.

        Errors known before the first token (server down, prompt too long, bad request) are raised here,
        as the local engine does; errors after it are raised while iterating the handle.
        """
        payload = self.payload(request, stream=True)
        started = time.monotonic()
        response = self._with_retries(lambda: self._open_stream(payload))
        return OpenAIStreamHandle(self, response, started)

    def payload(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of a chat completion request."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": stream,
        }
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.seed is not None:
            payload["seed"] = request.seed
        if stream:
            payload["stream_options"] = {"include_usage": True}
        if request.json_schema is not None:
            schema = request.json_schema
            # The OpenAI field, vLLM's current field and vLLM's older one: each server reads the one it
            # knows and ignores the others.
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            }
            payload["structured_outputs"] = {"json": schema}
            payload["guided_json"] = schema
        return payload

    # --- HTTP ---------------------------------------------------------------------------------
    def _with_retries(self, attempt: Callable[[], T]) -> T:
        for number in range(self.max_retries + 1):
            try:
                return attempt()
            except _Transient as transient:
                if number >= self.max_retries:
                    raise transient.error from transient
                delay = min(BACKOFF_BASE_SECONDS * 2**number, BACKOFF_MAX_SECONDS)
                if transient.retry_after is not None:
                    delay = min(max(delay, transient.retry_after), BACKOFF_MAX_SECONDS)
                logger.warning(
                    "%s; retrying in %.2f s (attempt %d of %d)",
                    transient.error.message,
                    delay,
                    number + 2,
                    self.max_retries + 1,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _post_json(self, payload: dict[str, Any], timeout: httpx.Timeout) -> Any:
        try:
            response = self._client.post(self.url, json=payload, headers=self._headers, timeout=timeout)
        except httpx.HTTPError as error:
            raise self._network_problem(error, timeout) from error
        if response.status_code >= 400:
            raise self._status_problem(response.status_code, response.text, response.headers)
        try:
            return response.json()
        except ValueError as error:
            raise self._nonsense(f"the body is not JSON: {_excerpt(response.text)}") from error

    def _open_stream(self, payload: dict[str, Any]) -> httpx.Response:
        http_request = self._client.build_request(
            "POST", self.url, json=payload, headers=self._headers, timeout=self._timeout
        )
        try:
            response = self._client.send(http_request, stream=True)
        except httpx.HTTPError as error:
            raise self._network_problem(error) from error
        if response.status_code >= 400:
            try:
                text = response.read().decode("utf-8", errors="replace")
            except httpx.HTTPError:
                text = ""
            finally:
                response.close()
            raise self._status_problem(response.status_code, text, response.headers)
        return response

    # --- turning failures into words ----------------------------------------------------------
    def _network_problem(
        self, error: httpx.HTTPError, timeout: httpx.Timeout | None = None
    ) -> _Transient | ModelServerError:
        where = f"The model server at {self.base_url}"
        hint = f" {self.start_hint}" if self.start_hint else ""
        if isinstance(error, httpx.ConnectTimeout):
            seconds = min(self.timeout, 10.0)
            return _Transient(ModelServerError(f"{where} is not answering: no connection within {seconds:g} s.{hint}"))
        if isinstance(error, httpx.ConnectError):
            detail = str(error)
            reason = "connection refused" if "refused" in detail.lower() else (detail or "cannot connect")
            return _Transient(ModelServerError(f"{where} is not answering: {reason}.{hint}"))
        if isinstance(error, httpx.PoolTimeout):  # no connection free in this process: nothing was sent
            return _Transient(ModelServerError(f"{where} had no free connection within {self.timeout:g} s."))
        if isinstance(error, httpx.TimeoutException):  # read or write timeout: the server has the request
            # Not retried: the server is still working on it (llama.cpp's server stops when the connection
            # closes), and sending it again would make the server write the same text twice.
            seconds = (timeout or self._timeout).read or self.timeout
            return ModelServerTimeoutError(
                f"{where} did not answer within {seconds:.3g} s (it was still writing; not asked again)."
            )
        if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            # The connection broke before an answer: a restart, or a kept-alive connection the server had
            # just closed. Either way the server is not writing this request, so asking again is safe.
            return _Transient(ModelServerError(f"{where} closed the connection without answering ({error})."))
        return ModelServerError(f"{where} could not be reached: {error or type(error).__name__}.")

    def _status_problem(self, status: int, text: str, headers: httpx.Headers) -> _Transient | ModelError:
        message, code = _server_message(text)
        where = f"The model server at {self.base_url}"
        if status in (400, 413, 422) and (
            code == "context_length_exceeded" or CONTEXT_LENGTH_PATTERN.search(message or "")
        ):
            return PromptTooLongError(f"{where} says the prompt is too long: {message}")
        said = f": {message}" if message else "."
        if status in RETRY_STATUSES:
            return _Transient(ModelServerError(f"{where} answered HTTP {status}{said}"), _retry_after(headers))
        hint = ""
        if status in (401, 403):
            hint = " Check OPENAI_API_KEY."
        elif status == 404 and "/v1" not in self.base_url:
            hint = " Does the base URL need to end in /v1?"
        elif status == 404:
            hint = f" Is “{self.model}” the name the server serves the model under?"
        return ModelServerError(f"{where} answered HTTP {status}{said}{hint}")

    def _nonsense(self, detail: str) -> ModelServerError:
        return ModelServerError(f"The model server at {self.base_url} {NOT_A_COMPLETION} ({detail}).")

    def _result_from_completion(self, body: Any) -> ChatResult:
        try:
            choice = body["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise self._nonsense(f"no choices[0].message.content in {_excerpt(json.dumps(body))}") from error
        if content is None:
            content = ""  # a server may send null content for an empty answer
        if not isinstance(content, str):
            raise self._nonsense(f"choices[0].message.content is {type(content).__name__}, not text")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        return ChatResult(
            text=content,
            model=body.get("model") if isinstance(body.get("model"), str) else self.model,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            finish_reason=_finish_reason(choice.get("finish_reason") if isinstance(choice, dict) else None),
            extra={
                "server": self.base_url,
                "id": body.get("id"),
                **_cache_figures(usage, body.get("timings") if isinstance(body.get("timings"), dict) else {}),
            },
        )


class OpenAIStreamHandle:
    """A streaming completion: iterate for text pieces, `result()` for the whole reply, `cancel()` to stop.

    Iterate from one thread; `cancel()` may come from any thread and closes the connection, which is how
    an OpenAI-compatible server learns to stop generating.
    """

    def __init__(self, backend: OpenAIBackend, response: httpx.Response, started: float):
        self._backend = backend
        self._response = response
        self._started = started
        self._pieces: list[str] = []
        self._model = backend.model
        self._usage: dict[str, Any] = {}
        self._timings: dict[str, Any] = {}
        self._finish_reason: str | None = None
        self._first_piece_at: float | None = None
        self._id: str | None = None
        self._is_cancelled = False
        self._is_finished = False
        self._error: ModelError | None = None
        self._reading = threading.Lock()  # held while a thread is blocked reading the stream
        self._events: Iterator[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._error is not None:
            raise self._error
        while not self._is_finished:
            piece = self._next_piece()
            if piece is None:
                break
            yield piece
        if self._error is not None:
            raise self._error

    def result(self) -> ChatResult:
        for _ in self:
            pass
        completion_tokens = _int(self._usage.get("completion_tokens")) or len(self._pieces)
        return ChatResult(
            text="".join(self._pieces),
            model=self._model,
            prompt_tokens=_int(self._usage.get("prompt_tokens")),
            completion_tokens=completion_tokens,
            finish_reason="cancelled" if self._is_cancelled else (self._finish_reason or "stop"),
            extra={
                "server": self._backend.base_url,
                "id": self._id,
                "first_token_seconds": (self._first_piece_at or time.monotonic()) - self._started,
                **_cache_figures(self._usage, self._timings),
            },
        )

    def cancel(self) -> None:
        """Stop the reply: close the connection so the server stops generating. Safe from any thread."""
        if self._is_finished:
            return
        self._is_cancelled = True
        if self._reading.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._reading.release()
        else:
            # Another thread is blocked reading: shutting the socket down wakes it and tells the server
            # at once; that thread then closes the response itself (closing it from here would race it).
            _shutdown_socket(self._response)

    def __del__(self) -> None:
        # A handle dropped unread must not keep its connection (and the server's generation) going. The
        # garbage collector may run this in the middle of httpx's own code, with the thread holding the
        # connection pool's lock (a CI run hung so): the socket is shut down here, which takes no lock and
        # tells the server at once, and the response is closed from another thread, once the lock is free.
        if not getattr(self, "_is_finished", True):
            response = self._response
            with contextlib.suppress(Exception):
                _shutdown_socket(response)
                threading.Thread(target=response.close, name="openai-stream-close", daemon=True).start()

    # --- reading ------------------------------------------------------------------------------
    def _next_piece(self) -> str | None:
        """The next non-empty text piece, or None at the end (finished, cancelled or failed)."""
        with self._reading:
            while not self._is_cancelled:
                try:
                    if self._events is None:
                        self._events = self._read_events()
                    data = next(self._events, None)
                except httpx.HTTPError as error:
                    if not self._is_cancelled:
                        self._fail(self._backend._network_problem(error))
                    break
                except ModelError as error:
                    self._fail(error)
                    break
                if data is None:
                    if self._finish_reason is None:
                        self._fail(
                            ModelServerError(
                                f"The model server at {self._backend.base_url} ended the stream before the reply "
                                "was finished."
                            )
                        )
                    break
                if data.strip() == "[DONE]":
                    break
                piece = self._accept(data)
                if piece:
                    if self._first_piece_at is None:
                        self._first_piece_at = time.monotonic()
                    self._pieces.append(piece)
                    return piece
            self._close()
            return None

    def _read_events(self) -> Iterator[str]:
        """The `data` of each server-sent event; a whole JSON body if the server ignored `stream`."""
        content_type = self._response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            text = self._response.read().decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                raise self._backend._nonsense(f"expected server-sent events, got {_excerpt(text)}") from None
            result = self._backend._result_from_completion(body)
            self._finish_reason = result.finish_reason
            self._usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens}
            self._model = result.model
            if result.text:
                self._first_piece_at = time.monotonic()
                self._pieces.append(result.text)
            yield "[DONE]"
            return
        data: list[str] = []
        for line in self._response.iter_lines():
            if not line:  # a blank line ends an event
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            if line.startswith(":"):
                continue  # a comment: servers send these to keep the connection alive
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            yield "\n".join(data)

    def _accept(self, data: str) -> str:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise self._backend._nonsense(f"a stream event is not JSON: {_excerpt(data)}") from None
        if not isinstance(chunk, dict):
            raise self._backend._nonsense(f"a stream event is not an object: {_excerpt(data)}")
        if "error" in chunk:
            message, _code = _server_message(data)
            raise ModelServerError(f"The model server at {self._backend.base_url} failed mid-reply: {message}")
        if isinstance(chunk.get("id"), str):
            self._id = chunk["id"]
        if isinstance(chunk.get("model"), str):
            self._model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        if isinstance(chunk.get("timings"), dict):
            self._timings = chunk["timings"]
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise self._backend._nonsense(f"a stream event lacks choices: {_excerpt(data)}")
        if not choices:
            return ""  # the usage chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            raise self._backend._nonsense(f"a stream event's choice is not an object: {_excerpt(data)}")
        if choice.get("finish_reason"):
            self._finish_reason = _finish_reason(choice["finish_reason"])
        delta = choice.get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""

    def _fail(self, error: ModelError | _Transient) -> None:
        self._error = error.error if isinstance(error, _Transient) else error

    def _close(self) -> None:
        self._is_finished = True
        self._response.close()


# --- helpers ----------------------------------------------------------------------------------
def _cache_figures(usage: dict[str, Any], timings: dict[str, Any]) -> dict[str, Any]:
    """How much of the prompt the server took from its prompt cache, where it says: OpenAI and vLLM in
    `usage.prompt_tokens_details.cached_tokens`, llama.cpp in `timings` (`cache_n` cached, `prompt_n` read
    now), which is passed on whole as `server_timings`."""
    figures: dict[str, Any] = {}
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
        figures["cached_prompt_tokens"] = details["cached_tokens"]
    if timings:
        figures["server_timings"] = timings
        if isinstance(timings.get("cache_n"), int):
            figures["cached_prompt_tokens"] = timings["cache_n"]
    return figures


def _shutdown_socket(response: httpx.Response) -> None:
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already closed: nothing left to stop
            sock.shutdown(socket.SHUT_RDWR)


def _server_message(text: str) -> tuple[str, str | None]:
    """The error message (and code) of a server's error body: OpenAI, FastAPI or plain-text style."""
    try:
        body = json.loads(text)
    except ValueError:
        return _excerpt(text) if text.strip() else "", None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("msg")
            code = error.get("code") if isinstance(error.get("code"), str) else None
            if message:
                return str(message), code
        elif isinstance(error, str):
            return error, None
        if isinstance(body.get("detail"), str | list):
            return str(body["detail"]), None
    return _excerpt(text), None


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None


def _finish_reason(value: Any) -> str:
    if value in ("stop", "length"):
        return value
    if value in (None, "", "eos", "stop_sequence"):
        return "stop"
    return str(value)  # abort, tool_calls, content_filter: passed on as the server said


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")
