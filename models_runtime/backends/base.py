"""What every backend offers. The local engine and the OpenAI-compatible client both satisfy it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from models_runtime.types import ChatRequest, ChatResult


class StreamHandle(Protocol):
    def __iter__(self) -> Iterator[str]: ...

    def result(self) -> ChatResult: ...

    def cancel(self) -> None: ...


class Backend(Protocol):
    name: str

    def complete(self, request: ChatRequest) -> ChatResult: ...

    def complete_batch(self, requests: list[ChatRequest]) -> list[ChatResult]: ...

    def submit(self, request: ChatRequest) -> StreamHandle:
        """Start generating; iterate the handle for text pieces as they are written."""
        ...
