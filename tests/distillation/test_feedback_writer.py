"""Once an admin promotes a distilled version for feedback, grading's feedback writer keeps that model's own
draft whenever it passes the product's checks; before, the retrieved teachers' text wins when it agrees more
with the candidates. The feedback version is served by `FakeVLLMServer` (a named stand-in for a served model)."""

from __future__ import annotations

import pytest

from grading.feedback import FeedbackBank, FeedbackItem, feedback_write
from models_runtime import api as models

pytestmark = pytest.mark.django_db

DRAFT = "You explain that the stations share one medium, but you do not say how collisions are detected."
TEACHER = "Partially correct. The answer names the shared medium but leaves out collision detection."


def _write(fake_vllm, *, keeps_own_draft: bool) -> tuple[str, dict]:
    server = fake_vllm(DRAFT)
    version = models.version_register(
        name=f"feedback-writer-{int(keeps_own_draft)}",
        base_model="SmolLM2-135M-Instruct",
        kind="generator",
        backend="openai",
        location=server.url,
        tasks=["feedback"],
        metrics={"keeps_own_draft": True} if keeps_own_draft else {},
    )
    models.version_activate(version=version, task="feedback", reason="tests", confirm_worse=True)
    question = "Explain how CSMA/CD works."
    bank = FeedbackBank.build(
        [("q", f"Stations listen first, answer {i}.", "partially_correct", TEACHER) for i in range(4)]
    )
    item = FeedbackItem(
        question=question,
        question_key="q",
        reference_answers=["Carrier sense, collision detection, backoff."],
        answer="Stations listen before they send on the shared medium.",
        label="partially_correct",
    )
    return feedback_write([item], bank=bank)[0]


def test_a_promoted_distilled_version_writes_the_feedback_itself_when_its_draft_passes_the_checks(fake_vllm) -> None:
    text, provenance = _write(fake_vllm, keeps_own_draft=True)
    assert text == DRAFT
    assert provenance["feedback_source"] == "generated"
    assert provenance["feedback_choice"] == "promoted_version_own_draft"
    assert provenance["model_version"] == "feedback-writer-1"


def test_another_version_still_loses_to_the_teachers_consensus(fake_vllm) -> None:
    text, provenance = _write(fake_vllm, keeps_own_draft=False)
    assert text == TEACHER
    assert provenance["feedback_source"] == "retrieved"
    assert "feedback_choice" not in provenance
