"""A student's data, exported (JSON) or deleted, FERPA/GDPR style. See privacy/README.md for what
deletion keeps.

"The student's data" is found from the models themselves, so that a new app's data is covered without
a change here: every row whose foreign key to the student deletes with them (on_delete=CASCADE), and
the rows that delete with those, three levels down (a submission, its grade, the grade's history).
"""

from __future__ import annotations

import json
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Role, User
from core.errors import ApplicationError
from core.services import audit_record
from grading.models import Grade, GradeChange, Submission

EXPORT_FORMAT_VERSION = 1
MAX_DEPTH = 3
# Fields never exported: secrets, not data about the student.
SECRET_FIELDS = {"password", "key"}
# Provenance keys kept on an anonymised grade: which model, prompt and policy made it (no inputs).
PROVENANCE_KEPT = ("version", "template", "policy")


def _cascading_children(model: type[models.Model]) -> list[tuple[type[models.Model], str]]:
    """(child model, field name) for each foreign key to `model` whose rows are deleted with it."""
    children = []
    for candidate in apps.get_models():
        for field in candidate._meta.get_fields():
            if (
                isinstance(field, models.ForeignKey)
                and field.related_model is model
                and field.remote_field.on_delete is models.CASCADE
            ):
                children.append((candidate, field.name))
    return children


def _rows(model: type[models.Model], queryset: models.QuerySet[Any]) -> list[dict[str, Any]]:
    fields = [
        field.attname
        for field in model._meta.concrete_fields
        if field.name not in SECRET_FIELDS and field.attname not in SECRET_FIELDS
    ]
    return list(queryset.order_by("pk").values(*fields))


def _collect(model: type[models.Model], pks: list[Any], depth: int, into: dict[str, list[dict[str, Any]]]) -> None:
    if depth > MAX_DEPTH or not pks:
        return
    for child, field_name in _cascading_children(model):
        if child is get_user_model():
            continue
        queryset = child._default_manager.filter(**{f"{field_name}__in": pks})
        rows = _rows(child, queryset)
        if not rows:
            continue
        label = child._meta.label_lower
        known = {row["id"] for row in into.get(label, []) if "id" in row}
        into.setdefault(label, []).extend(row for row in rows if row.get("id") not in known)
        _collect(child, [row["id"] for row in rows if "id" in row], depth + 1, into)


def _check_student(user: User) -> None:
    if user.effective_role != Role.STUDENT:
        raise ApplicationError(
            f"{user.username} is not a student: this page exports and deletes students' data only.",
            code="not_a_student",
        )


def student_data_export(*, student: User, actor: User) -> dict[str, Any]:
    """Everything Tutorloop holds about a student, as plain JSON-ready data; the export is audited."""
    _check_student(student)
    account = _rows(User, User.objects.filter(pk=student.pk))[0]
    data: dict[str, list[dict[str, Any]]] = {}
    _collect(User, [student.pk], 1, data)
    export = {
        "format": "tutorloop-student-export",
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": timezone.now(),
        "account": account,
        "data": dict(sorted(data.items())),
    }
    audit_record(
        action="student.exported",
        actor=actor,
        target=f"user {student.pk}",
        summary=f"Exported the data of student {student.username}",
        details={"counts": {label: len(rows) for label, rows in data.items()}},
    )
    return export


def student_data_export_json(*, student: User, actor: User) -> str:
    return json.dumps(student_data_export(student=student, actor=actor), cls=DjangoJSONEncoder, indent=2)


@transaction.atomic
def student_data_delete(*, student: User, actor: User, confirm_username: str) -> dict[str, int]:
    """Delete a student's account and personal data; keep their grades, anonymised, for statistics.

    Kept: each grade's label, score, confidence and status, on a submission moved to an anonymous,
    inactive placeholder account (`deleted-<id>`, no name, no e-mail, no role, no login), so that
    per-question and per-assignment figures stay right. Removed: the account, enrolments, tutor
    sessions and their turns, every answer's text, every grade's feedback (it may quote the answer),
    the inputs in the grades' provenance, the feedback in the grades' history, API tokens and the
    login attempts under the username. Returns how many rows of each kind went.
    """
    _check_student(student)
    if confirm_username != student.username:
        raise ApplicationError(
            f"Type the student's username, “{student.username}”, to confirm the deletion.", code="confirm_mismatch"
        )
    username, student_pk = student.username, student.pk
    placeholder = User(username=f"deleted-{student_pk}", role="", is_active=False)
    placeholder.set_unusable_password()
    placeholder.save()

    grades = Grade.objects.filter(submission__student=student)
    kept_grades = grades.count()
    for grade in grades.only("pk", "provenance"):
        provenance = {
            key: value for key, value in grade.provenance.items() if any(part in key for part in PROVENANCE_KEPT)
        }
        Grade.objects.filter(pk=grade.pk).update(feedback="", model_feedback="", provenance=provenance)
    for change in GradeChange.objects.filter(grade__submission__student=student).only("pk", "before", "after"):
        before = {key: value for key, value in change.before.items() if key != "feedback"}
        after = {key: value for key, value in change.after.items() if key != "feedback"}
        GradeChange.objects.filter(pk=change.pk).update(before=before, after=after)
    anonymised = Submission.objects.filter(student=student).update(student=placeholder, answer_text="")

    counts: dict[str, int] = {}
    _deleted, by_model = student.delete()
    counts.update({label.lower(): number for label, number in by_model.items() if number})
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        removed, _ = model.objects.filter(username=username).delete()
        if removed:
            counts[model._meta.label_lower] = removed
    audit_record(
        action="student.deleted",
        actor=actor,
        target=f"user {student_pk}",
        # The username is personal data: the audit names the account by its number only.
        summary=f"Deleted the account and personal data of student #{student_pk}; "
        f"{kept_grades} grades kept, anonymised",
        details={"deleted": counts, "anonymised_submissions": anonymised, "kept_grades": kept_grades},
    )
    return counts
