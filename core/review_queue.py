"""A seam between feature apps: hand students' answers to the grading review queue without importing grading.

Feature apps are independent of each other (import-linter), so the app that collects answers (the reflection
questions in `coaching.reflection`) cannot call grading. It builds a `ReviewRequest` and calls
`review_queue_send`; the receiver is the callable named by the setting `REVIEW_QUEUE_RECEIVER` (a dotted path,
wired in `config`, as Django wires its backends), or one registered with `review_queue_receiver_register`.
The receiver stores the answers as a short-answer question in its queue and returns a `ReviewHandoff`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

from core.errors import ApplicationError

__all__ = [
    "ReviewAnswer",
    "ReviewHandoff",
    "ReviewRequest",
    "review_queue_available",
    "review_queue_receiver_register",
    "review_queue_send",
]


@dataclass(frozen=True)
class ReviewAnswer:
    student_id: int
    text: str


@dataclass(frozen=True)
class ReviewRequest:
    """A question and its answers; `source` names where they came from (e.g. "reflection:assignment:12")."""

    course_id: int
    title: str
    question_text: str
    answers: tuple[ReviewAnswer, ...]
    requested_by_id: int
    source: str


@dataclass(frozen=True)
class ReviewHandoff:
    """What the receiver stored: its own ids and the page where the teacher reviews the answers."""

    assignment_id: int
    question_id: int
    submissions: int
    url: str


Receiver = Callable[[ReviewRequest], ReviewHandoff]
_registered: Receiver | None = None


def review_queue_receiver_register(receiver: Receiver | None) -> None:
    """Register (or, with None, clear) the receiver; it takes precedence over the setting."""
    global _registered
    _registered = receiver


def _receiver() -> Receiver | None:
    if _registered is not None:
        return _registered
    path = getattr(settings, "REVIEW_QUEUE_RECEIVER", "")
    return import_string(path) if path else None


def review_queue_available() -> bool:
    return _receiver() is not None


def review_queue_send(*, request: ReviewRequest) -> ReviewHandoff:
    """Hand the answers over. Raises ApplicationError when no review queue is installed or nothing is sent."""
    receiver = _receiver()
    if receiver is None:
        raise ApplicationError("No grading review queue is installed, so the answers cannot be sent to it.")
    if not request.answers:
        raise ApplicationError("There are no answers to send to the review queue yet.")
    return receiver(request)
