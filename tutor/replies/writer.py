"""The writer of one reply: a thread that asks the model to rephrase the policy's reply, passes every
piece through the policy's gate, hands what passed to the reader that claimed the reply (a `Channel`,
same process) and stores the result. If that reader goes away (the tab closed) the writer cancels the
model and stores the code-written reply, so the reply is always there when the student comes back.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connections

from models_runtime import api as models
from tutor.models import Turn
from tutor.policy.gate import ReplyGate
from tutor.policy.plan import plan_from_dict
from tutor.policy.solution import ProblemFacts
from tutor.replies.prompt import STOP, TASK, is_model_enabled, reply_max_new_tokens, reply_prompt
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
                    show(shown)
                    if time.monotonic() - last_save >= SAVE_EVERY_SECONDS:
                        reply_save_partial(turn_id=turn_id, text=gate.shown)
                        last_save = time.monotonic()
                if gate.is_stopped:
                    stream.cancel()
                    break
            if not channel.cancel.is_set():
                show(gate.finish())  # the model's last sentence, judged now that nothing more follows
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
        show(text, by_word=True)
    else:
        # What was shown stays; the rest (the plan's question, or the whole plan if nothing passed) follows it,
        # so the student ends up seeing exactly the stored reply.
        text, check = gate.final_text()
        show(gate.tail(), by_word=True)
    extra["source"] = check if check in ("model", "model+plan") else "plan"
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
