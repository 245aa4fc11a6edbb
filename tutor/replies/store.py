"""A reply's row: claimed by one writer, saved as it grows, completed once."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from tutor.models import Turn, TutorSession
from tutor.policy.solution import ProblemFacts
from tutor.replies.prompt import reply_reveals_answer


def reply_claim(*, turn_id: int) -> bool:
    """Take the right to write this reply. True for exactly one caller, ever."""
    return bool(
        Turn.objects.filter(pk=turn_id, status=Turn.Status.PENDING).update(
            status=Turn.Status.GENERATING, updated_at=timezone.now()
        )
    )


def reply_save_partial(*, turn_id: int, text: str) -> None:
    """What has been shown so far, so a reader in another process can follow the reply."""
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


def reply_complete_with_plan(*, turn_id: int, check: str) -> bool:
    """Complete the reply with the policy's own text (the writer failed or stopped); `check` says why."""
    turn = Turn.objects.filter(pk=turn_id).only("planned_text").first()
    if turn is None:
        return False
    return reply_complete(turn_id=turn_id, text=turn.planned_text, provenance_extra={"source": "plan", "check": check})
