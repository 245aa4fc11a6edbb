"""Issue 23: `evaluate_grader --model-feedback` measures the feedback the active feedback model writes by itself."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from grading.feedback import FeedbackItem, _unusable, feedback_model_drafts
from grading.grader import active_grader_dir, bank_load
from grading.grader_model import question_text_key
from models_runtime import api as models

DATA = Path(__file__).resolve().parents[2] / "grading" / "seed_data" / "saf_english" / "10.1_TC.xml"


@pytest.mark.usefixtures("active_grader")
def test_evaluate_grader_model_feedback_prints_the_model_figures_beside_the_product() -> None:
    out = StringIO()
    # The product's own choice by retrieval here (no generation), the model's drafts generated once.
    call_command(
        "evaluate_grader", "--data", str(DATA), "--limit", "3", "--retrieval-feedback", "--model-feedback", stdout=out
    )
    figures = json.loads(out.getvalue())
    own = figures["model_feedback"]
    assert own["feedback_version"] == models.version_for_task("feedback").name
    assert own["answers"] == 3
    assert {"feedback_rouge_l", "feedback_sacrebleu", "passes_checks"} <= set(own)
    assert "feedback_rouge_l" in figures  # the product's own choice, measured beside it
    assert figures["feedback_generated_share"] == 0.0  # retrieval only: the model's text is measured apart


@pytest.mark.usefixtures("active_grader")
def test_a_draft_passes_exactly_when_the_product_would_use_it() -> None:
    item = FeedbackItem(
        question="What does a compiler do?",
        question_key=question_text_key("What does a compiler do?"),
        reference_answers=["It translates source code into machine code."],
        answer="It translates the program into machine code.",
        label="correct",
    )
    directory, _ = active_grader_dir()
    [(draft, passes)] = feedback_model_drafts([item], bank=bank_load(directory), max_new_tokens=24)
    assert draft.strip() and "Feedback:" not in draft  # cleaned as the product cleans the model's text
    assert passes is (not _unusable(draft, item))


def test_model_feedback_without_feedback_is_refused() -> None:
    with pytest.raises(CommandError, match="leave out --no-feedback"):
        call_command("evaluate_grader", "--data", "x.csv", "--model-feedback", "--no-feedback", stdout=StringIO())
