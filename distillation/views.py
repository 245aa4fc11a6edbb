"""The admins' distillation page: start a run, watch it as a pipeline, cancel, resume, promote."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.models import Role
from accounts.permissions import role_required
from core.errors import ApplicationError, NotFoundError
from distillation import selectors, services
from distillation.forms import PromoteForm, RunStartForm
from models_runtime import api as models


def _run_or_404(run_id: int) -> Any:
    try:
        return selectors.run_get(run_id=run_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


@role_required(Role.ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    form = RunStartForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                run = services.run_start(
                    user=request.user,
                    task=form.cleaned_data["task"],
                    config_name=form.cleaned_data["config"],
                    seed=form.cleaned_data["seed"],
                )
            except ApplicationError as error:
                messages.error(request, error.message)
            else:
                return redirect("distillation:run_detail", run_id=run.pk)
        status = 400 if form.errors else 409
        return render(
            request, "distillation/index.html", {"form": form, "runs": selectors.run_list()[:20]}, status=status
        )
    return render(request, "distillation/index.html", {"form": form, "runs": selectors.run_list()[:20]})


@role_required(Role.ADMIN)
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id)
    context = {
        "run": run,
        "steps": list(run.steps.all()),
        "chart_data": selectors.run_chart_data(run=run),
        "comparison": selectors.run_comparison(run=run),
    }
    if request.headers.get("HX-Request") == "true":
        if not run.is_active:
            # The poll saw the run end: reload the whole page, so the candidate's figures, the charts and
            # Promote (outside the polled section) appear without the admin reloading it.
            return HttpResponseClientRefresh()
        return render(request, "distillation/run.html#run-pipeline", context)
    return render(request, "distillation/run.html", context)


def _act(request: HttpRequest, run_id: int, action: str) -> HttpResponse:
    run = _run_or_404(run_id)
    try:
        if action == "cancel":
            services.run_cancel(run=run)
            messages.success(request, "Cancelling: the run stops at its next progress report.")
        elif action == "resume":
            services.run_resume(run=run, user=request.user)
            messages.success(request, "Resumed from the first unfinished step.")
        else:
            form = PromoteForm(request.POST)
            form.is_valid()
            services.run_promote(
                run=run, user=request.user, confirm_worse=form.cleaned_data.get("confirm_worse", False)
            )
            messages.success(request, f"{run.candidate_version} now writes the {run.task} task's text.")
    except models.ActivationNeedsConfirmation as refusal:
        messages.warning(request, refusal.message)
    except (ApplicationError, models.ModelError) as error:
        messages.error(request, error.message)
    return redirect("distillation:run_detail", run_id=run.pk)


@role_required(Role.ADMIN)
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    return _act(request, run_id, "cancel")


@role_required(Role.ADMIN)
@require_POST
def run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    return _act(request, run_id, "resume")


@role_required(Role.ADMIN)
@require_POST
def run_promote(request: HttpRequest, run_id: int) -> HttpResponse:
    return _act(request, run_id, "promote")
