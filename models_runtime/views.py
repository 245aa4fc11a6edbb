from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from models_runtime.errors import ModelError
from models_runtime.models import TASK_CHOICES, ActivationRecord, ActiveModel, ModelVersion
from models_runtime.registry import (
    ActivationNeedsConfirmation,
    builtin_student,
    primary_metric,
    version_activate,
    version_retire,
)


def _require_admin(request: HttpRequest) -> None:
    # The role lives in accounts, which this bottom layer does not import: ask the user object.
    if not getattr(request.user, "is_admin", False):
        raise PermissionDenied("This page is for admins only.")


class ActivateForm(forms.Form):
    task = forms.ChoiceField(choices=TASK_CHOICES)
    reason = forms.CharField(max_length=1000, widget=forms.TextInput(attrs={"placeholder": "Why this version?"}))
    confirm_worse = forms.BooleanField(required=False)


def _metric_columns(versions: list[ModelVersion]) -> list[str]:
    names: list[str] = []
    for version in versions:
        for name in version.metrics.get("heldout") or {}:
            if name not in names:
                names.append(name)
    return names


@login_required
def index(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    builtin_student()  # the bundled default is always listed (a test's flush or a manual delete may remove it)
    versions = list(ModelVersion.objects.prefetch_related("active_for"))
    columns = _metric_columns(versions)
    rows = [
        {
            "version": version,
            "serves": [row.task for row in version.active_for.all()],
            "figures": [(version.metrics.get("heldout") or {}).get(name) for name in columns],
            "primary": primary_metric(version.metrics),
        }
        for version in versions
    ]
    active = {row.task: row for row in ActiveModel.objects.select_related("version", "activated_by")}
    tasks = [{"task": task, "label": label, "active": active.get(task)} for task, label in TASK_CHOICES]
    history = ActivationRecord.objects.select_related("version", "previous_version", "activated_by")[:20]
    return render(
        request,
        "models_runtime/index.html",
        {"rows": rows, "columns": columns, "tasks": tasks, "history": history, "form": ActivateForm()},
    )


@login_required
@require_POST
def activate(request: HttpRequest, version_id: int) -> HttpResponse:
    _require_admin(request)
    version = get_object_or_404(ModelVersion, pk=version_id)
    form = ActivateForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            "Choose a task and say why: "
            + "; ".join(
                f"{field}: {' '.join(str(error) for error in errors)}" for field, errors in form.errors.items()
            ),
        )
        return redirect("models_runtime:index")
    data: dict[str, Any] = form.cleaned_data
    try:
        version_activate(
            version=version,
            task=data["task"],
            user=request.user,
            reason=data["reason"],
            confirm_worse=data["confirm_worse"],
        )
    except ActivationNeedsConfirmation as error:
        return render(
            request,
            "models_runtime/confirm.html",
            {"version": version, "task": data["task"], "reason": data["reason"], "message": error.message},
            status=409,
        )
    except ModelError as error:
        messages.error(request, error.message)
        return redirect("models_runtime:index")
    messages.success(request, f"{version.name} now serves {data['task']}.")
    return redirect("models_runtime:index")


@login_required
@require_POST
def retire(request: HttpRequest, version_id: int) -> HttpResponse:
    _require_admin(request)
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        version_retire(version=version)
    except ModelError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{version.name} is retired.")
    return redirect("models_runtime:index")
