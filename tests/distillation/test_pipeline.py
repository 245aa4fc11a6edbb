"""A tiny configuration of every step, for real: the real SmolLM2-135M student and teacher, TRL's DPO (LoRA) and
SFT, MiniLM retrieval, the registries, PostgreSQL. The disk fills up while the aligned teacher is saved (a
monkeypatched save raising OSError(ENOSPC)): the run stops there with the reason, registers nothing, and the
resumed run continues from that step without drafting again."""

from __future__ import annotations

import errno

import pytest

from datasets_admin.selectors import dataset_rows, dataset_version_get
from distillation import feedback_task, lm, pipeline, services
from distillation.models import Status
from models_runtime.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_a_tiny_run_end_to_end_stops_on_a_full_disk_and_the_resumed_run_continues(monkeypatch) -> None:
    def disk_full(*args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lm, "_save_pretrained", disk_full)
    run = services.run_create(config_name="tiny", seed=3)
    run = services.run_in_process(run=run)
    steps = {step.name: step for step in run.steps.all()}
    assert run.status == Status.FAILED
    assert [steps[name].status for name in ("draft", "prefer", "align", "generate")] == [
        Status.SUCCEEDED,
        Status.SUCCEEDED,
        Status.FAILED,
        Status.PENDING,
    ]
    assert "The disk is full" in steps["align"].message and "resume the run" in steps["align"].message
    directory = pipeline.run_dir(run.pk)
    assert not (directory / "teacher").exists()
    assert not [path.name for path in directory.iterdir() if path.name.startswith(".")]  # nothing half-written
    assert not ModelVersion.objects.filter(name__startswith="feedback-arte").exists()
    drafts = steps["draft"].figures
    assert drafts["seed_items"] == 3 and drafts["drafts"] == 6
    assert steps["prefer"].figures["drafts_scored"] >= 3

    monkeypatch.undo()
    run = services.run_resume(run=run, in_process=True)
    steps = {step.name: step for step in run.steps.all()}
    assert run.status == Status.SUCCEEDED, run.message
    assert steps["draft"].attempts == 1 and steps["align"].attempts == 2  # continued where it stopped
    assert steps["align"].figures["mode"] == "dpo_lora" and steps["align"].figures["steps"] == 1
    generated = steps["generate"].figures
    tailored = dataset_version_get(slug="arte-feedback-tailored")
    untailored = dataset_version_get(slug="arte-feedback-untailored")
    assert tailored.is_locked and tailored.row_count == untailored.row_count == generated["tailored_rows"] == 3
    row = next(dataset_rows(version=tailored))
    assert row["policy_version"] == feedback_task.POLICY_VERSION and row["teacher"] == "local:smollm2-135m-instruct"
    assert steps["distill"].figures["tailored"]["steps"] == 2
    assert steps["distill"].figures["tailored"]["loss_curve"]
    evaluation = steps["evaluate"].figures
    for name in ("base", "untailored", "tailored", "retrieval_consensus", "product_active", "product_candidate"):
        assert 0 <= evaluation[name]["feedback_rouge_l"] <= 1
    # Once promoted, the candidate's draft is what students read wherever it passes the product's checks.
    assert evaluation["product_candidate"]["model_text_share"] == evaluation["tailored"]["passes_checks"]
    version = ModelVersion.objects.get(name=run.candidate_version)
    assert version.status == ModelVersion.Status.CANDIDATE  # nothing is promoted automatically
    assert version.tasks == ["feedback"] and version.metrics["keeps_own_draft"] is True
    assert version.metrics["heldout"] == evaluation["tailored"]
    assert version.metrics["active_version"]["heldout"] == evaluation["base"]
