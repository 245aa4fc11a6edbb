"""The admins' page: a run as a pipeline, the start form's refusals, promotion by an admin only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from distillation import services
from distillation.models import Status
from models_runtime import api as models
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _finished_run(school) -> object:
    run = services.run_create(config_name="tiny", user=school.admin)
    candidate = models.version_register(
        name="feedback-arte-test",
        base_model="SmolLM2-135M-Instruct",
        kind="generator",
        backend="openai",
        location="http://127.0.0.1:9/v1",
        tasks=["feedback"],
        metrics={"primary": "feedback_rouge_l", "heldout": {"feedback_rouge_l": 0.41}, "keeps_own_draft": True},
    )
    run.steps.update(status=Status.SUCCEEDED)
    evaluate = run.steps.get(name="evaluate")
    evaluate.figures = {
        "base": {"feedback_rouge_l": 0.3, "feedback_sacrebleu": 5.0, "passes_checks": 0.5},
        "tailored": {"feedback_rouge_l": 0.41, "feedback_sacrebleu": 9.0, "passes_checks": 0.8},
        "candidate": candidate.name,
    }
    evaluate.save()
    run.status, run.candidate_version = Status.SUCCEEDED, candidate.name
    run.save()
    return run


def test_the_run_page_shows_each_step_the_comparison_and_promotes_only_when_the_admin_says_so(school) -> None:
    run = _finished_run(school)
    client = client_for(school.admin)
    page = client.get(reverse("distillation:run_detail", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("draft", "prefer", "align", "generate", "distill", "evaluate"):
        assert f'data-testid="step-{name}" data-status="succeeded"' in html
    assert "feedback-arte-test (candidate)" in html and "0.41" in html
    assert 'id="distillation-chart-data"' in html
    assert models.version_for_task("feedback").name != "feedback-arte-test"

    promoted = client.post(reverse("distillation:run_promote", args=[run.pk]), follow=True)
    assert promoted.status_code == 200
    assert models.version_for_task("feedback").name == "feedback-arte-test"
    run.refresh_from_db()
    assert run.promoted_by == school.admin
    assert 'data-testid="promoted"' in promoted.content.decode()


def test_the_start_form_refuses_a_bad_seed_and_a_second_run_on_the_same_data(school) -> None:
    client = client_for(school.admin)
    bad = client.post(reverse("distillation:index"), {"task": "feedback", "config": "tiny", "seed": "-3"})
    assert bad.status_code == 400
    services.run_create(config_name="tiny")  # running (queued) on the shipped SAF set
    busy = client.post(reverse("distillation:index"), {"task": "feedback", "config": "tiny", "seed": "1"})
    assert busy.status_code == 409
    assert "is already working on saf-english-feedback" in busy.content.decode()


def test_a_missing_run_is_404_and_a_teacher_is_refused(school) -> None:
    assert client_for(school.admin).get(reverse("distillation:run_detail", args=[999])).status_code == 404
    assert client_for(school.teacher).get(reverse("distillation:index")).status_code == 403
