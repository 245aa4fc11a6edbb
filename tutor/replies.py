"""Writing a tutor reply and streaming it as server-sent events.

The student's message and a pending reply row are stored together (tutor.services); this module
writes the reply's text. The first stream to claim the row (a conditional update: pending ->
generating) starts one writer thread, which asks the model to rephrase the policy's reply, passes
every piece through the policy's gate and stores the result. Every other stream of the same reply
(a reconnect, a second tab, another process) never generates: it reads the stored text from the
database until the reply is complete. If the claiming stream's reader goes away (the tab closed),
the writer cancels the model and stores the code-written reply, so the reply is always there when
the student comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import queue
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from models_runtime import api as models
from tutor.models import Turn, TutorSession
from tutor.policy.gate import ReplyGate
from tutor.policy.numbers import contains_number, numbers_in
from tutor.policy.plan import ReplyPlan, plan_from_dict
from tutor.policy.solution import ProblemFacts

logger = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
REPLY_TEMPLATE = PROMPTS_DIR / "tutor_reply.toml"
TASK = "tutor"
STOP = ("\nStudent", "\nTeacher", "Student:", "\n\n")
POLL_SECONDS = 0.2  # how often a reader that did not start the writer looks at the stored reply
SAVE_EVERY_SECONDS = 0.5
KEEPALIVE_SECONDS = 10.0
# A reply still "generating" with no progress for this long lost its writer (the process stopped):
# the next reader completes it with the code-written reply instead of waiting for ever.
STALE_AFTER_SECONDS = 120
MAX_STREAM_SECONDS = 600

MOVE_INSTRUCTIONS = {
    "generic": "Keep it short and friendly.",
    "probing": "Ask the student to explain their reasoning.",
    "focus": "Point the student at one step of their work with a question.",
    "telling": "Show the student the step they are stuck on.",
}


def reply_max_new_tokens() -> int:
    return int(getattr(settings, "TUTOR_MAX_NEW_TOKENS", 48))


def is_model_enabled() -> bool:
    """The model rephrases replies unless TUTOR_USE_MODEL is off (then the policy's text is sent)."""
    return bool(getattr(settings, "TUTOR_USE_MODEL", True))


def reply_prompt(*, statement: str, student_message: str, plan: ReplyPlan) -> tuple[models.PromptTemplate, list]:
    template = models.prompt_load(REPLY_TEMPLATE)
    messages = template.render(
        problem=statement,
        student_message=student_message[:1500],
        move=plan.move,
        move_instruction=MOVE_INSTRUCTIONS.get(plan.move, ""),
        planned_reply=plan.text,
    )
    return template, messages


def reply_reveals_answer(text: str, facts: ProblemFacts) -> bool:
    return facts.answer_value is not None and contains_number(numbers_in(text), facts.answer_value)


# --- one writer per reply ------------------------------------------------------------------------
@dataclass
class _Channel:
    """Pieces from the writer to the stream that claimed the reply (same process only)."""

    events: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    stream: Any = None  # the model's stream, so a leaving reader can cancel it even before its first piece
    # An ASGI reader's wake-up (set from the writer thread): it waits for pieces instead of polling for them.
    waker: Callable[[], None] | None = None

    def put(self, kind: str, payload: str) -> None:
        self.events.put((kind, payload))
        waker = self.waker
        if waker is not None:
            waker()

    def stop(self) -> None:
        self.cancel.set()
        if self.stream is not None:
            self.stream.cancel()


def reply_claim(*, turn_id: int) -> bool:
    """Take the right to write this reply. True for exactly one caller, ever."""
    return bool(
        Turn.objects.filter(pk=turn_id, status=Turn.Status.PENDING).update(
            status=Turn.Status.GENERATING, updated_at=timezone.now()
        )
    )


def _save_partial(turn_id: int, text: str) -> None:
    Turn.objects.filter(pk=turn_id, status=Turn.Status.GENERATING).update(text=text, updated_at=timezone.now())


def reply_complete(*, turn_id: int, text: str, provenance_extra: dict[str, Any]) -> bool:
    """Store the finished reply and what it did to the session. False if someone else completed it."""
    with transaction.atomic():
        turn = (
            Turn.objects.select_for_update()
            .select_related("session__problem")
            .filter(pk=turn_id)
            .exclude(status=Turn.Status.COMPLETE)
            .first()
        )
        if turn is None:
            return False
        problem = turn.session.problem
        facts = ProblemFacts.build(
            statement=problem.statement, worked_solution=problem.worked_solution, final_answer=problem.final_answer
        )
        turn.text = text
        turn.status = Turn.Status.COMPLETE
        turn.provenance = {**turn.provenance, **provenance_extra}
        turn.save(update_fields=["text", "status", "provenance", "updated_at"])
        session = turn.session
        if session.is_open and reply_reveals_answer(text, facts):
            TutorSession.objects.filter(pk=session.pk).update(is_answer_revealed=True, updated_at=timezone.now())
    return True


def _write(turn_id: int, channel: _Channel, turn: Turn | None = None) -> None:
    """The writer thread: model -> gate -> pieces to the channel and text to the database.

    `turn`, when the stream's view already loaded it (with its problem and the student's message),
    saves a query before the model starts: what the policy planned is fixed when the message is stored.
    """
    close_old_connections()
    if turn is None or turn.pk != turn_id:
        turn = Turn.objects.select_related("session__problem", "reply_to").get(pk=turn_id)
    plan = plan_from_dict(turn.provenance.get("policy", {}))
    problem = turn.session.problem
    facts = ProblemFacts.build(
        statement=problem.statement, worked_solution=problem.worked_solution, final_answer=problem.final_answer
    )
    student_message = turn.reply_to.text if turn.reply_to else ""
    gate = ReplyGate(plan, facts, context=student_message)
    extra: dict[str, Any] = {"model_version": "", "prompt_template": "", "source": "plan", "check": ""}
    is_cancelled = False
    started = time.monotonic()
    if is_model_enabled():
        template, messages = reply_prompt(statement=problem.statement, student_message=student_message, plan=plan)
        extra["prompt_template"] = template.label
        last_save = time.monotonic()
        try:
            stream = models.chat_stream(
                task=TASK, messages=messages, template=template, max_new_tokens=reply_max_new_tokens(), stop=STOP
            )
            channel.stream = stream
            if channel.cancel.is_set():
                stream.cancel()
            extra.update(models.provenance(stream.version, template))
            for piece in stream:
                if channel.cancel.is_set():
                    is_cancelled = True
                    stream.cancel()
                    break
                if "first_token_seconds" not in extra:
                    # The model's first piece; `first_piece_seconds` is when the gate first showed something
                    # (it holds back what may be the start of a number).
                    extra["first_token_seconds"] = round(time.monotonic() - started, 3)
                shown = gate.feed(piece)
                if shown:
                    if "first_piece_seconds" not in extra:
                        extra["first_piece_seconds"] = round(time.monotonic() - started, 3)
                    channel.put("piece", shown)
                    if time.monotonic() - last_save >= SAVE_EVERY_SECONDS:
                        _save_partial(turn_id, gate.shown)
                        last_save = time.monotonic()
                if gate.is_stopped:
                    stream.cancel()
                    break
            if not channel.cancel.is_set():
                last = gate.finish()  # the model's last sentence, judged now that nothing more follows
                if last:
                    channel.put("piece", last)
            generation = stream.result()
            extra["completion_tokens"] = generation.completion_tokens
            extra["finish_reason"] = generation.finish_reason
        except models.ModelError as error:
            logger.warning("the tutor model failed on turn %s: %s", turn_id, error)
            gate.violation = gate.violation or f"the model failed ({error})"
        # The reader may have left before the first piece: the stream then ends early, empty.
        is_cancelled = is_cancelled or channel.cancel.is_set()
    if is_cancelled:
        text, check = plan.text, "replaced: the reader left before the reply was written"
    elif not is_model_enabled():
        text, check = plan.text, "plan: the model is switched off"
        _put_words(channel, text)
    else:
        # What was shown stays; the rest (the plan's question, or the whole plan if nothing passed) follows it,
        # so the student ends up seeing exactly the stored reply.
        text, check = gate.final_text()
        _put_words(channel, gate.tail())
    extra["source"] = check if check in ("model", "model+plan") else "plan"
    extra["check"] = check
    extra["model_text"] = gate.text[:2000]
    extra["seconds"] = round(time.monotonic() - started, 3)
    reply_complete(turn_id=turn_id, text=text, provenance_extra=extra)


def _put_words(channel: _Channel, text: str) -> None:
    for word in re.findall(r"\s*\S+", text):
        channel.put("piece", word)


def _write_safely(turn_id: int, channel: _Channel, turn: Turn | None = None) -> None:
    try:
        _write(turn_id, channel, turn)
    except Exception:  # the reply must end complete whatever happened to the model
        logger.exception("writing tutor reply %s failed; storing the planned reply", turn_id)
        turn = Turn.objects.filter(pk=turn_id).only("planned_text").first()
        if turn is not None:
            reply_complete(
                turn_id=turn_id,
                text=turn.planned_text,
                provenance_extra={"source": "plan", "check": "replaced: the writer failed"},
            )
    finally:
        channel.put("done", "")
        connections.close_all()


def reply_writer_start(*, turn_id: int, turn: Turn | None = None) -> _Channel:
    channel = _Channel()
    thread = threading.Thread(
        target=_write_safely, args=(turn_id, channel, turn), name=f"tutor-reply-{turn_id}", daemon=True
    )
    thread.start()
    return channel


def reply_write_now(*, turn_id: int) -> bool:
    """Write a pending reply in this thread, without a reader (used by the API's tests and tools)."""
    if not reply_claim(turn_id=turn_id):
        return False
    channel = _Channel()
    _write_safely(turn_id, channel)
    return True


# --- server-sent events --------------------------------------------------------------------------
def sse_event(event: str, data: str, *, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return "\n".join(lines) + "\n\n"


class ReplyEvents:
    """The events of one reply for one reader: `piece` (text, HTML-escaped by default) then `done`.

    A sync iterator (WSGI, tests); `aiter()` gives the async one for ASGI, which waits on the event loop
    (for its writer's wake-up, or `asyncio.sleep` between looks at the database) and runs only its short
    database steps in Django's sync thread, so many readers never queue behind each other's waits.
    `stop()` may be called from any thread: the reader went away.
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
        self._channel: _Channel | None = None

    def stop(self) -> None:
        self._stopped.set()
        if self._channel is not None:
            self._channel.stop()

    def __iter__(self) -> Iterator[str]:
        return self._events()

    def _events(self) -> Iterator[str]:
        try:
            if reply_claim(turn_id=self.turn_id):
                self._open_channel()
                yield "retry: 1500\n\n"
                yield from self._from_writer()
            else:
                yield "retry: 1500\n\n"
                yield from self._from_database()
        finally:
            # A reader that leaves before `done` (closed tab) stops its writer: nobody waits for it.
            self.stop()

    def _done(self) -> str:
        turn = Turn.objects.select_related("session__problem", "session__student").get(pk=self.turn_id)
        return sse_event("done", self.render_done(turn))

    def _open_channel(self) -> _Channel:
        """This reader's writer: started on first use, stopped at once if the reader already left."""
        if self._channel is None:
            self._channel = reply_writer_start(turn_id=self.turn_id, turn=self.turn)
        if self._stopped.is_set():
            self._channel.stop()
        return self._channel

    def _piece(self, payload: str) -> str:
        self.offset += len(payload)
        return sse_event("piece", self.render_piece(payload), event_id=str(self.offset))

    def _from_writer(self) -> Iterator[str]:
        channel = self._open_channel()
        keepalive = _KeepAlive()
        while True:
            try:
                kind, payload = channel.events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                yield from keepalive.tick(POLL_SECONDS, sent=False)
                continue
            keepalive.tick(0.0, sent=True)
            if kind == "piece":
                yield self._piece(payload)
            else:
                yield self._done()
                return

    def _database_poll(self) -> tuple[list[str], str]:
        """One look at the stored reply: the events to send, then "wait", "again", "claimed" or "done"."""
        row = Turn.objects.filter(pk=self.turn_id).values("status", "text", "updated_at").first()
        if row is None:
            return [sse_event("failed", "This reply no longer exists.")], "done"
        if row["status"] == Turn.Status.COMPLETE:
            return [self._done()], "done"
        if row["status"] == Turn.Status.PENDING and reply_claim(turn_id=self.turn_id):
            return [], "claimed"
        if row["updated_at"] < timezone.now() - timedelta(seconds=STALE_AFTER_SECONDS):
            turn = Turn.objects.only("planned_text").get(pk=self.turn_id)
            reply_complete(
                turn_id=self.turn_id,
                text=turn.planned_text,
                provenance_extra={"source": "plan", "check": "replaced: the writer stopped"},
            )
            return [], "again"
        text = row["text"]
        if len(text) > self.offset:
            return [self._piece(text[self.offset :])], "wait"
        return [], "wait"

    def _from_database(self) -> Iterator[str]:
        deadline = time.monotonic() + MAX_STREAM_SECONDS
        keepalive = _KeepAlive()
        while time.monotonic() < deadline and not self._stopped.is_set():
            events, then = self._database_poll()
            yield from events
            if then == "claimed":
                yield from self._from_writer()
            if then in ("claimed", "done"):
                return
            if then == "wait":
                yield from keepalive.tick(POLL_SECONDS, sent=bool(events))
                time.sleep(POLL_SECONDS)

    async def aiter(self) -> AsyncIterator[str]:
        """The same events for an ASGI server, without ever blocking a thread while waiting.

        Database steps run through `sync_to_async` (Django's request thread, so the connection closes
        with the request) and are short; waits are on the event loop, so one reader never holds up
        another's database step. A disconnect stops the writer at once.
        """
        try:
            claimed = await sync_to_async(reply_claim)(turn_id=self.turn_id)
            if claimed:
                # The writer starts before the first event: a reader leaving after it still stops it.
                self._open_channel()
            yield "retry: 1500\n\n"
            if claimed:
                async for event in self._awriter():
                    yield event
                return
            deadline = time.monotonic() + MAX_STREAM_SECONDS
            keepalive = _KeepAlive()
            poll = sync_to_async(self._database_poll)
            while time.monotonic() < deadline and not self._stopped.is_set():
                events, then = await poll()
                for event in events:
                    yield event
                if then == "claimed":
                    async for event in self._awriter():
                        yield event
                if then in ("claimed", "done"):
                    return
                if then == "wait":
                    for event in keepalive.tick(POLL_SECONDS, sent=bool(events)):
                        yield event
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            self.stop()

    async def _awriter(self) -> AsyncIterator[str]:
        """Pieces from this process's writer thread, each sent as soon as the writer hands it over.

        The writer wakes this reader through the event loop (`call_soon_threadsafe`) instead of the reader
        polling the queue: no delay between a piece and its event, and no wake-ups while the model thinks.
        """
        channel = self._open_channel()
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the reader's loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(ready.set)

        channel.waker = wake
        try:
            while True:
                try:
                    kind, payload = channel.events.get_nowait()
                except queue.Empty:
                    ready.clear()
                    if not channel.events.empty():  # handed over between the two looks: no wait
                        continue
                    try:
                        await asyncio.wait_for(ready.wait(), timeout=KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                    continue
                if kind == "piece":
                    yield self._piece(payload)
                else:
                    yield await sync_to_async(self._done)()
                    return
        finally:
            channel.waker = None


class _KeepAlive:
    """A comment line after KEEPALIVE_SECONDS without an event, so proxies keep the stream open."""

    def __init__(self) -> None:
        self.idle = 0.0

    def tick(self, seconds: float, *, sent: bool) -> list[str]:
        if sent:
            self.idle = 0.0
            return []
        self.idle += seconds
        if self.idle >= KEEPALIVE_SECONDS:
            self.idle = 0.0
            return [": keep-alive\n\n"]
        return []
