"""Admins' privacy pages: find a student, export their data (JSON), delete it; read the audit log."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role, User
from accounts.permissions import role_required
from core.errors import ApplicationError
from privacy.selectors import AUDIT_KINDS, audit_lines, student_get_for_privacy, student_list_for_privacy
from privacy.services import student_data_delete, student_data_export_json


def _student_or_404(student_id: int) -> User:
    student = student_get_for_privacy(student_id=student_id)
    if student is None:
        raise Http404("No such student.")
    return student


@role_required(Role.ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:150]
    return render(request, "privacy/index.html", {"query": query, "students": student_list_for_privacy(query=query)})


@role_required(Role.ADMIN)
def student_export(request: HttpRequest, student_id: int) -> HttpResponse:
    student = _student_or_404(student_id)
    body = student_data_export_json(student=student, actor=cast(User, request.user))
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tutorloop-student-{student.pk}.json"'
    return response


@role_required(Role.ADMIN)
@require_POST
def student_delete(request: HttpRequest, student_id: int) -> HttpResponse:
    student = _student_or_404(student_id)
    try:
        student_data_delete(
            student=student, actor=cast(User, request.user), confirm_username=request.POST.get("confirm", "").strip()
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("privacy:index")
    messages.success(
        request, f"Deleted student #{student_id}'s account and personal data; their grades are kept, anonymised."
    )
    return redirect("privacy:audit")


@role_required(Role.ADMIN)
def audit(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind not in ("", *AUDIT_KINDS):
        kind = ""
    return render(request, "privacy/audit.html", {"lines": audit_lines(kind=kind), "kind": kind, "kinds": AUDIT_KINDS})
