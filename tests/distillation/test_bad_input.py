"""Runs refused or stopped with a clear state: no usable items, two runs on the same data, a teacher that goes
down mid-run (then the run resumes where it stopped)."""

from __future__ import annotations

import pytest

from core.errors import ConflictError
from datasets_admin.selectors import dataset_version_get
from datasets_admin.services import dataset_register
from distillation import services
from distillation.models import DistillationRun, Status
from models_runtime.models import ModelVersion

pytestmark = pytest.mark.django_db


def _bad_rows() -> list[dict]:
    row = {"question": "What is a bus?", "reference_answers": ["A shared medium."], "label": "correct"}
    return [
        {**row, "answer": "", "feedback": "Good.", "split": "train"},
        {**row, "answer": "A wire everyone shares.", "feedback": "", "split": "train"},
        {**row, "answer": "A shared wire.", "feedback": "Right.", "label": "excellent", "split": "dev"},
    ]


def test_a_data_set_without_usable_items_fails_at_the_draft_with_the_reason_and_registers_nothing() -> None:
    dataset_register(
        slug="bad-answers",
        name="bad",
        kind="graded_answers",
        owner_app="tests",
        source="tests",
        license="-",
        rows=_bad_rows(),
    )
    run = services.run_create(config_name="tiny", dataset_slug="bad-answers")
    run = services.run_in_process(run=run)
    assert run.status == Status.FAILED
    draft = run.steps.get(name="draft")
    assert draft.status == Status.FAILED
    assert "0 usable seed item" in draft.message and "Nothing was drafted" in draft.message
    assert "Resume to retry" in run.message
    assert run.steps.exclude(name="draft").filter(status=Status.PENDING).count() == 5
    assert not ModelVersion.objects.filter(name__startswith="feedback-arte").exists()
    # The version the run used is locked: registering other rows makes a new version, the run's stays.
    assert dataset_version_get(slug="bad-answers").is_locked


def test_two_runs_on_the_same_data_at_once_the_second_is_refused_with_the_first_named() -> None:
    first = services.run_create(config_name="tiny")
    with pytest.raises(ConflictError, match=f"run {first.pk} is already working on saf-english-feedback"):
        services.run_create(config_name="tiny", seed=5)
    assert DistillationRun.objects.count() == 1
    first.status = Status.FAILED
    first.save()
    second = services.run_create(config_name="tiny", seed=5)  # once the first stopped, a new one may start
    assert second.dataset_version_id == first.dataset_version_id


def test_a_remote_teacher_down_mid_run_fails_the_draft_with_its_message_and_the_resumed_run_continues(
    settings, fake_vllm
) -> None:
    down = fake_vllm("You named the medium; say what happens when two stations send at once.", answer_limit=2)
    settings.MODEL_BACKENDS = {**settings.MODEL_BACKENDS, "teacher": "openai"}
    settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = down.url, "big-teacher"
    run = services.run_create(config_name="tiny")
    assert run.teacher == "openai:openai-big-teacher"
    step = services.step_execute(run=run, name="draft")
    run.refresh_from_db()
    assert step.status == Status.FAILED and run.status == Status.FAILED
    assert "503" in step.message or "not answering" in step.message or "down" in step.message
    assert down.answered == 2  # it answered, then went down in the middle of the drafts

    up = fake_vllm("You named the medium; say what happens when two stations send at once.")
    settings.OPENAI_BASE_URL = up.url
    DistillationRun.objects.filter(pk=run.pk).update(status=Status.QUEUED)
    step = services.step_execute(run=run, name="draft")
    assert step.status == Status.SUCCEEDED, step.message
    assert step.attempts == 2
    assert step.figures["teacher"] == "openai:openai-big-teacher"
    assert step.figures["drafts"] == 3 * 2  # 1 teacher draft + the product's consensus text per seed item
    assert all(request["model"] == "big-teacher" for request in up.requests)


def test_a_run_whose_distill_process_died_mid_step_is_ended_by_cancel_and_frees_the_data_for_a_new_run() -> None:
    run = services.run_create(config_name="tiny")
    # What a `distill` command killed during its draft leaves behind: the step running, no job to cancel.
    DistillationRun.objects.filter(pk=run.pk).update(status=Status.RUNNING)
    run.steps.filter(name="draft").update(status=Status.RUNNING, job_id="")
    run.refresh_from_db()
    with pytest.raises(ConflictError, match="already working"):
        services.run_create(config_name="tiny", seed=5)

    run = services.run_cancel(run=run)
    assert run.status == Status.CANCELLED and run.message == "Cancelled at step draft."
    assert run.steps.get(name="draft").status == Status.CANCELLED
    assert services.next_step(run).name == "draft"  # a resume would start there
    assert services.run_create(config_name="tiny", seed=5).status == Status.QUEUED


def test_an_interrupted_distill_process_leaves_its_run_cancelled_not_running(monkeypatch) -> None:
    from distillation import pipeline

    def interrupted(context):
        raise KeyboardInterrupt

    monkeypatch.setitem(pipeline.STEPS, "draft", interrupted)
    run = services.run_create(config_name="tiny")
    with pytest.raises(KeyboardInterrupt):
        services.run_in_process(run=run)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and "interrupted" in run.message
    assert run.steps.get(name="draft").status == Status.CANCELLED
