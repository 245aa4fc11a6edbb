"""The audit log: exports and deletions (core.AuditEntry), grade changes by teachers and releases
(grading.GradeChange), model activations (models_runtime.ActivationRecord), newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from django.db.models import Count, Q, QuerySet

from accounts.models import Role, User
from core.models import AuditEntry
from grading.models import GradeChange
from models_runtime.models import ActivationRecord

AUDIT_KINDS = ("grades", "models", "privacy")


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    kind: str
    actor: str
    summary: str


def audit_lines(*, kind: str = "", limit: int = 200) -> list[AuditLine]:
    """The latest `limit` lines of the audit log, optionally of one kind (grades, models, privacy)."""
    lines: list[AuditLine] = []
    if kind in ("", "privacy"):
        for entry in AuditEntry.objects.select_related("actor")[:limit]:
            actor = entry.actor.username if entry.actor else entry.actor_name or "system"
            lines.append(AuditLine(at=entry.created_at, kind="privacy", actor=actor, summary=entry.summary))
    if kind in ("", "grades"):
        changes = (
            GradeChange.objects.exclude(action=GradeChange.Action.MACHINE_GRADED)
            .select_related("changed_by", "grade__submission__question__assignment")
            .order_by("-changed_at", "-pk")[:limit]
        )
        for change in changes:
            question = change.grade.submission.question
            before, after = change.before, change.after
            detail = ""
            if change.action == GradeChange.Action.OVERRIDDEN:
                detail = f": {before.get('label')} {before.get('score')} → {after.get('label')} {after.get('score')}"
            lines.append(
                AuditLine(
                    at=change.changed_at,
                    kind="grades",
                    actor=change.changed_by.username if change.changed_by else "system",
                    summary=f"{change.get_action_display()} grade #{change.grade_id} "
                    f"(“{question.assignment.title}”, question {question.position}){detail}",
                )
            )
    if kind in ("", "models"):
        for record in ActivationRecord.objects.select_related("version", "previous_version", "activated_by")[:limit]:
            previous = f" (was {record.previous_version.name})" if record.previous_version else ""
            lines.append(
                AuditLine(
                    at=record.activated_at,
                    kind="models",
                    actor=record.activated_by.username if record.activated_by else "system",
                    summary=f"Activated {record.version.name} for {record.task}{previous}: {record.reason}",
                )
            )
    lines.sort(key=lambda line: line.at, reverse=True)
    return list(islice(lines, limit))


def student_list_for_privacy(*, query: str = "") -> QuerySet[User]:
    students = User.objects.filter(role=Role.STUDENT, is_superuser=False)
    if query:
        students = students.filter(
            Q(username__icontains=query) | Q(first_name__icontains=query) | Q(last_name__icontains=query)
        )
    return students.annotate(submission_count=Count("submissions", distinct=True)).order_by("username")[:50]


def student_get_for_privacy(*, student_id: Any) -> User | None:
    return User.objects.filter(pk=student_id, role=Role.STUDENT, is_superuser=False).first()
