"""A reply as server-sent events, for one reader: `piece` events (text), then `done`.

The first reader to claim the reply's row (pending -> generating) starts its writer thread and sends the
pieces the writer hands over. Every other reader of the same reply (a reconnect, a second tab, another
process) never generates: it follows the stored text in the database until the reply is complete, and
completes with the plan's text a reply whose writer stopped (no progress for `STALE_AFTER_SECONDS`).

The loop is written once (`ReplyEvents._steps`), as a generator that yields events and `_Wait`s and never
waits itself; two drivers do the waiting: `__iter__` in a thread (WSGI, the test server) and `aiter()` on
the event loop (ASGI), which runs the loop's short database steps in Django's sync thread and waits on the
event loop, so many readers never queue behind each other's waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from tutor.models import Turn
from tutor.replies.store import reply_claim, reply_complete_with_plan
from tutor.replies.writer import Channel, reply_writer_start

POLL_SECONDS = 0.2  # how often a reader that did not start the writer looks at the stored reply
KEEPALIVE_SECONDS = 10.0
KEEPALIVE = ": keep-alive\n\n"  # a comment line, so proxies keep a quiet stream open
RETRY = "retry: 1500\n\n"
# A reply still "generating" with no progress for this long lost its writer (the process stopped):
# the next reader completes it with the code-written reply instead of waiting for ever.
STALE_AFTER_SECONDS = 120
MAX_STREAM_SECONDS = 600


def sse_event(event: str, data: str, *, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class _Wait:
    """What the loop asks its driver for: wait `seconds`, or less if `channel` gets an event. The driver
    resumes the loop with True if the channel woke it, False if the time ran out."""

    seconds: float
    channel: Channel | None = None


class _End:
    pass


_END = _End()
Step = Generator[str | _Wait, bool | None, None]


class ReplyEvents:
    """The events of one reply for one reader. Iterate it (in a thread) or `aiter()` it (on an event loop).

    `stop()` may be called from any thread: the reader went away; a reader that leaves before `done`
    stops the writer it started, since nobody waits for that reply any more.
    """

    def __init__(
        self,
        *,
        turn_id: int,
        render_done: Callable[[Turn], str],
        last_event_id: str | None = None,
        render_piece: Callable[[str], str] = html.escape,
        turn: Turn | None = None,
    ):
        self.turn_id = turn_id
        self.turn = turn  # as the view loaded it, so the writer need not load it again
        self.render_done = render_done
        self.render_piece = render_piece
        start = last_event_id or ""
        self.offset = int(start) if start.isdigit() else 0
        self._stopped = threading.Event()
        self._channel: Channel | None = None

    def stop(self) -> None:
        self._stopped.set()
        if self._channel is not None:
            self._channel.stop()

    # --- the loop -----------------------------------------------------------------------------
    def _steps(self) -> Step:
        """Every event of this reader, in order; never blocks (it yields a `_Wait` instead)."""
        claimed = reply_claim(turn_id=self.turn_id)
        if claimed:
            self._open_channel()  # before the first event: a reader leaving after it still stops the writer
        yield RETRY
        if not claimed:
            claimed = yield from self._from_database()
            if not claimed:
                return
        yield from self._from_writer()

    def _from_writer(self) -> Step:
        channel = self._open_channel()
        while True:
            try:
                kind, payload = channel.events.get_nowait()
            except queue.Empty:
                woke = yield _Wait(KEEPALIVE_SECONDS, channel)
                if not woke:
                    yield KEEPALIVE
                continue
            if kind == "piece":
                yield self._piece(payload)
            else:
                yield self._done()
                return

    def _from_database(self) -> Generator[str | _Wait, bool | None, bool]:
        """Follow the stored reply until it is complete. True if this reader claimed it on the way (the
        writer that had it released it), so it writes the rest itself."""
        deadline = time.monotonic() + MAX_STREAM_SECONDS
        idle = 0.0
        while time.monotonic() < deadline and not self._stopped.is_set():
            row = Turn.objects.filter(pk=self.turn_id).values("status", "text", "updated_at").first()
            if row is None:
                yield sse_event("failed", "This reply no longer exists.")
                return False
            if row["status"] == Turn.Status.COMPLETE:
                yield self._done()
                return False
            if row["status"] == Turn.Status.PENDING and reply_claim(turn_id=self.turn_id):
                return True
            if row["updated_at"] < timezone.now() - timedelta(seconds=STALE_AFTER_SECONDS):
                reply_complete_with_plan(turn_id=self.turn_id, check="replaced: the writer stopped")
                continue
            if len(row["text"]) > self.offset:
                yield self._piece(row["text"][self.offset :])
                idle = 0.0
            yield _Wait(POLL_SECONDS)
            idle += POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield KEEPALIVE
        return False

    def _open_channel(self) -> Channel:
        """This reader's writer: started on first use, stopped at once if the reader already left."""
        if self._channel is None:
            self._channel = reply_writer_start(turn_id=self.turn_id, turn=self.turn)
        if self._stopped.is_set():
            self._channel.stop()
        return self._channel

    def _piece(self, payload: str) -> str:
        self.offset += len(payload)
        return sse_event("piece", self.render_piece(payload), event_id=str(self.offset))

    def _done(self) -> str:
        turn = Turn.objects.select_related("session__problem", "session__student").get(pk=self.turn_id)
        return sse_event("done", self.render_done(turn))

    # --- the drivers --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        steps = self._steps()
        try:
            answer: bool | None = None
            while True:
                step = _advance(steps, answer)
                if isinstance(step, _End):
                    return
                if isinstance(step, str):
                    answer = None
                    yield step
                elif step.channel is not None:
                    step.channel.ready.clear()
                    answer = not step.channel.events.empty() or step.channel.ready.wait(step.seconds)
                else:
                    answer = self._stopped.wait(step.seconds)
        finally:
            self.stop()
            steps.close()

    async def aiter(self) -> AsyncIterator[str]:
        """The same events on an event loop: the loop's steps run in Django's sync thread (through
        `sync_to_async`, so the connection closes with the request), its waits on the event loop, where the
        writer wakes this reader (`call_soon_threadsafe`) as soon as it hands a piece over."""
        steps = self._steps()
        advance = sync_to_async(_advance)
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the reader's loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(ready.set)

        channel: Channel | None = None
        try:
            answer: bool | None = None
            while True:
                step = await advance(steps, answer)
                if isinstance(step, _End):
                    return
                if isinstance(step, str):
                    answer = None
                    yield step
                elif step.channel is not None:
                    channel = step.channel
                    channel.waker = wake
                    ready.clear()
                    answer = True
                    if channel.events.empty():  # a piece handed over between the loop's look and now: no wait
                        try:
                            await asyncio.wait_for(ready.wait(), timeout=step.seconds)
                        except TimeoutError:
                            answer = False
                else:
                    await asyncio.sleep(step.seconds)
                    answer = False
        finally:
            if channel is not None:
                channel.waker = None
            self.stop()
            with contextlib.suppress(ValueError):  # still running in the sync thread: it ends on its own
                steps.close()


def _advance(steps: Step, answer: bool | None) -> str | _Wait | _End:
    try:
        return steps.send(answer)
    except StopIteration:
        return _END


def reply_stream_response(request: HttpRequest, events: ReplyEvents) -> StreamingHttpResponse:
    """The events as a server-sent event response. Django buffers an async iterator under WSGI and a sync
    one under ASGI, so the iterator follows the server: async under uvicorn, sync under the test server."""
    content: Any = events.aiter() if isinstance(request, ASGIRequest) else iter(events)
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
