"""Reads of distillation runs for the admin page."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFoundError
from distillation.adapters import adapter_for
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
    adapter = adapter_for(run.task)
    # ROUGE-L (0-1) and sacreBLEU (0-100, shown / 100) of each model and of the product's text without one.
    names = [("feedback_rouge_l", "ROUGE-L", 1), ("feedback_sacrebleu", "sacreBLEU / 100", 100)]
    if run.task != "feedback":
        names = [
            ("rouge_l", "ROUGE-L", 1),
            ("sacrebleu", "sacreBLEU / 100", 100),
            ("model_text_kept", "model text kept", 1),
        ]
    bars = {
        model: {
            label: round(float(evaluation[model][key]) / scale, 4)
            for key, label, scale in names
            if key in evaluation[model]
        }
        for model in ("base", "untailored", "tailored", adapter.BASELINE)
        if isinstance(evaluation.get(model), dict)
    }
    return {"losses": losses, "evaluation": bars, "series": [label for _, label, _ in names]}


def run_comparison(*, run: DistillationRun) -> dict[str, Any]:
    """The candidate's held-out figures beside the version serving the task now, in the task's own columns."""
    active = models.version_for_task(run.task)
    candidate = (
        models.ModelVersion.objects.filter(name=run.candidate_version).first() if run.candidate_version else None
    )
    evaluation: dict[str, Any] = next((step.figures for step in run.steps.all() if step.name == "evaluate"), {}) or {}
    active_figures = (active.metrics or {}).get("heldout") or evaluation.get("base") or {}
    candidate_figures = evaluation.get("tailored") or {}
    return {
        "columns": [
            {"label": label, "active": active_figures.get(key), "candidate": candidate_figures.get(key)}
            for key, label in adapter_for(run.task).FIGURE_COLUMNS
        ],
        "active": active.name,
        "active_figures": active_figures,
        "candidate": candidate,
        "candidate_figures": candidate_figures,
        # What students would read (the feedback writer's choice between the model's draft and retrieved text).
        "active_product": evaluation.get("product_active") or {},
        "candidate_product": evaluation.get("product_candidate") or {},
        "is_active": candidate is not None and active.pk == candidate.pk,
    }
