"""Reads of distillation runs for the admin page."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFoundError
from distillation.models import DistillationRun
from models_runtime import api as models


def run_list() -> QuerySet[DistillationRun]:
    return DistillationRun.objects.prefetch_related("steps").order_by("-created_at")


def run_get(*, run_id: Any) -> DistillationRun:
    try:
        return DistillationRun.objects.prefetch_related("steps").get(pk=int(run_id))
    except (DistillationRun.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such distillation run.") from error


def run_chart_data(*, run: DistillationRun) -> dict[str, Any]:
    """Training-loss curves (DPO, both SFTs) and the held-out figures, for plotly."""
    steps = {step.name: step.figures for step in run.steps.all()}
    losses = {}
    align = steps.get("align") or {}
    if align.get("loss_curve"):
        losses["teacher DPO"] = align["loss_curve"]
    for name in ("untailored", "tailored"):
        curve = (steps.get("distill") or {}).get(name, {}).get("loss_curve")
        if curve:
            losses[f"student SFT ({name})"] = curve
    evaluation = steps.get("evaluate") or {}
    bars = {
        name: evaluation[name]
        for name in ("base", "untailored", "tailored", "retrieval_consensus")
        if isinstance(evaluation.get(name), dict)
    }
    return {"losses": losses, "evaluation": bars}


def run_comparison(*, run: DistillationRun) -> dict[str, Any]:
    """The candidate's held-out figures beside the version serving the task now."""
    active = models.version_for_task(run.task)
    candidate = (
        models.ModelVersion.objects.filter(name=run.candidate_version).first() if run.candidate_version else None
    )
    evaluation: dict[str, Any] = next((step.figures for step in run.steps.all() if step.name == "evaluate"), {}) or {}
    return {
        "active": active.name,
        "active_figures": (active.metrics or {}).get("heldout") or evaluation.get("base"),
        "candidate": candidate,
        "candidate_figures": evaluation.get("tailored"),
        "is_active": candidate is not None and active.pk == candidate.pk,
    }
