"""The writer of one reply: a thread that asks the model to rephrase the policy's reply, passes every
piece through the policy's gate, hands what passed to the reader that claimed the reply (a `Channel`,
same process) and stores the result. If that reader goes away (the tab closed) the writer cancels the
model and stores the code-written reply, so the reply is always there when the student comes back.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone

from models_runtime import api as models
from tutor.models import Turn
from tutor.policy.gate import ReplyGate
from tutor.policy.plan import plan_from_dict
from tutor.policy.solution import ProblemFacts
from tutor.replies.prompt import (
    STOP,
    TASK,
    is_model_enabled,
    reply_max_new_tokens,
    reply_prompt,
    reply_time_budget,
)
from tutor.replies.store import reply_complete, reply_complete_with_plan, reply_save_partial

logger = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 0.5


@dataclass
class Channel:
    """Pieces from the writer to the stream that claimed the reply (same process only): `("piece", text)`
    events, then one `("done", "")`."""

    events: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    stream: Any = None  # the model's stream, so a leaving reader can cancel it even before its first piece
    # Set on every event: a thread reader waits on it instead of polling the queue.
    ready: threading.Event = field(default_factory=threading.Event)
    # An event-loop reader's wake-up (called from the writer thread), for the same purpose.
    waker: Callable[[], None] | None = None

    def put(self, kind: str, payload: str) -> None:
        self.events.put((kind, payload))
        self.ready.set()
        waker = self.waker
        if waker is not None:
            waker()

    def stop(self) -> None:
        self.cancel.set()
        if self.stream is not None:
            self.stream.cancel()


class _ModelRun:
    """The model's stream, read in a thread of its own, so that the writer waits for it only as long as the
    reply's time budget allows: `events` gets `("piece", text)`s, then one `("end", Generation)`,
    `("error", ModelError)` or `("cancelled", None)`. `cancel()` may come from any thread, even before the
    model server has answered (the stream is then cancelled as soon as it opens)."""

    def __init__(self, open_stream: Callable[[], models.Stream], *, name: str):
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stream: models.Stream | None = None
        self._open_stream = open_stream
        self._lock = threading.Lock()
        self._is_cancelled = False
        threading.Thread(target=self._read, name=name, daemon=True).start()

    def _read(self) -> None:
        try:
            stream = self._open_stream()
            with self._lock:
                self.stream = stream
                is_cancelled = self._is_cancelled
            if is_cancelled:
                stream.cancel()
            for piece in stream:
                self.events.put(("piece", piece))
            self.events.put(("end", stream.result()))
        except models.ModelError as error:
            self.events.put(("error", error))
        except Exception as error:  # the writer must always hear the end, whatever happened
            logger.exception("reading the tutor model's stream failed")
            self.events.put(("error", error))
        finally:
            connections.close_all()  # this thread's own (the model's version was looked up here)

    def cancel(self) -> None:
        with self._lock:
            self._is_cancelled = True
            stream = self.stream
        if stream is not None:
            stream.cancel()
        self.events.put(("cancelled", None))


def _write(turn_id: int, channel: Channel, turn: Turn | None = None) -> None:
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

    def show(text: str, *, by_word: bool = False) -> None:
        """Hand checked text to the reader (the plan's text word by word); the first time, note when: what the
        student waits for before the first word."""
        if not text:
            return
        if "first_piece_seconds" not in extra:
            extra["first_piece_seconds"] = round(time.monotonic() - started, 3)
        for piece in re.findall(r"\s*\S+", text) if by_word else [text]:
            channel.put("piece", piece)

    # A plan said as written (telling, a refusal, a flagged message) is not sent to the model at all: the gate
    # would refuse its text anyway, and the generation would hold a model server slot for nothing.
    use_model = is_model_enabled() and plan.is_rephrasable
    if use_model:
        template, messages = reply_prompt(statement=problem.statement, student_message=student_message, plan=plan)
        extra["prompt_template"] = template.label
        first_budget, whole_budget = reply_time_budget()
        # The budget counts from when the student's message was stored (the pending reply was created with it),
        # not from when this writer started: it is what the student waits for.
        since = started - max(0.0, (timezone.now() - turn.created_at).total_seconds())
        last_save = time.monotonic()
        run = _ModelRun(
            lambda: models.chat_stream(
                task=TASK, messages=messages, template=template, max_new_tokens=reply_max_new_tokens(), stop=STOP
            ),
            name=f"tutor-model-{turn_id}",
        )
        channel.stream = run
        if channel.cancel.is_set():
            run.cancel()
        while True:
            budget = whole_budget if gate.shown else first_budget
            timeout = None if budget is None else max(0.0, since + budget - time.monotonic())
            try:
                kind, payload = run.events.get(timeout=timeout)
            except queue.Empty:
                # Out of time: the model is stopped; what passed stays and the plan says the rest.
                gate.violation = gate.violation or (
                    f"the reply took over {budget:g} s" if gate.shown else f"no checked sentence within {budget:g} s"
                )
                extra["timed_out"] = True
                run.cancel()
                break
            if channel.cancel.is_set():
                is_cancelled = True
                run.cancel()
                break
            if kind == "piece":
                if "first_token_seconds" not in extra:
                    # The model's first piece; `first_piece_seconds` is when the gate first showed something
                    # (it holds back what may be the start of a number).
                    extra["first_token_seconds"] = round(time.monotonic() - started, 3)
                shown = gate.feed(payload)
                if shown:
                    show(shown)
                    if time.monotonic() - last_save >= SAVE_EVERY_SECONDS:
                        reply_save_partial(turn_id=turn_id, text=gate.shown)
                        last_save = time.monotonic()
                if gate.is_stopped:
                    run.cancel()
                    break
            elif kind == "end":
                if not channel.cancel.is_set():
                    show(gate.finish())  # the model's last sentence, judged now that nothing more follows
                extra["completion_tokens"] = payload.completion_tokens
                extra["finish_reason"] = payload.finish_reason
                break
            elif kind == "error":
                logger.warning("the tutor model failed on turn %s: %s", turn_id, payload)
                gate.violation = gate.violation or f"the model failed ({payload})"
                break
            else:  # "cancelled": the reader left
                break
        if run.stream is not None:
            extra.update(models.provenance(run.stream.version, template))
        else:  # stopped before the model server answered: the version it was asked for
            with contextlib.suppress(models.ModelError):
                extra.update(models.provenance(models.version_for_task(TASK), template))
        # The reader may have left before the first piece: the stream then ends early, empty.
        is_cancelled = is_cancelled or channel.cancel.is_set()
    if is_cancelled:
        text, check = plan.text, "replaced: the reader left before the reply was written"
    elif not use_model:
        text = plan.text
        check = "plan: the model is switched off" if not is_model_enabled() else "plan: said as written"
        show(text, by_word=True)
    else:
        # What was shown stays; the rest (the plan's question, or the whole plan if nothing passed) follows it,
        # so the student ends up seeing exactly the stored reply.
        text, check = gate.final_text()
        show(gate.tail(), by_word=True)
    source = check.split(";", 1)[0]  # "model+plan; then <why the model was stopped>" is model text too
    extra["source"] = source if source in ("model", "model+plan") else "plan"
    extra["check"] = check
    extra["model_text"] = gate.text[:2000]
    extra["seconds"] = round(time.monotonic() - started, 3)
    reply_complete(turn_id=turn_id, text=text, provenance_extra=extra)


def _write_safely(turn_id: int, channel: Channel, turn: Turn | None = None) -> None:
    try:
        _write(turn_id, channel, turn)
    except Exception:  # the reply must end complete whatever happened to the model
        logger.exception("writing tutor reply %s failed; storing the planned reply", turn_id)
        reply_complete_with_plan(turn_id=turn_id, check="replaced: the writer failed")
    finally:
        channel.put("done", "")
        connections.close_all()


def reply_writer_start(*, turn_id: int, turn: Turn | None = None) -> Channel:
    channel = Channel()
    thread = threading.Thread(
        target=_write_safely, args=(turn_id, channel, turn), name=f"tutor-reply-{turn_id}", daemon=True
    )
    thread.start()
    return channel
