"""Training and registering graders: held-out figures, the refit on all the data, merging reviewed grades."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from grading import grader_model
from grading.grader import BANK_FILE as FEEDBACK_BANK_FILE
from grading.grader_model import LABELS, GradingExample, grader_load
from grading.training import examples_load, examples_merge, grader_train_and_register, heldout_csv_write
from models_runtime import api as models
from models_runtime.models import ModelVersion
from tests.conftest import demo_examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_dir(tmp_path: Path):
    with override_settings(MODELS_DIR=tmp_path):
        yield tmp_path


def test_the_version_is_measured_on_held_out_answers_then_refitted_on_all(models_dir: Path) -> None:
    examples = demo_examples()

    result = grader_train_and_register(examples=examples, name="refitted", fast=True)

    metrics = result["metrics"]
    directory = models_dir / "graders" / "refitted"
    # Four questions of twelve answers: 15% of each question's answers (one) are held out for the figures.
    assert metrics["measured_train_size"] == len(examples) - 4
    assert metrics["heldout"]["n"] == 4 and 0.0 <= metrics["heldout"]["accuracy"] <= 1.0
    # ... and the version itself is trained on every answer, so a later retraining starts from all of them.
    assert metrics["train_size"] == len(examples) and metrics["refit_on_all"] is True
    assert len(examples_load(directory)) == len(examples)
    assert len((directory / FEEDBACK_BANK_FILE).read_text(encoding="utf-8").splitlines()) == len(examples)
    # The held-out answers are in this version's training data now: no CSV invites re-measuring on them.
    assert not (directory / "heldout_unseen_answers.csv").exists()
    assert not (directory / "measured_fit").exists()
    assert not [key for key in grader_model._cache if key[0].endswith("measured_fit")]  # nor kept in memory
    version = ModelVersion.objects.get(name="refitted")
    assert version.status == ModelVersion.Status.CANDIDATE
    assert "then trained on all 48" in version.notes
    # The refitted artifacts grade.
    (prediction,) = grader_load(directory).predict([examples[0]])
    assert prediction.label in LABELS and 0.0 <= prediction.confidence <= 1.0


def test_without_refit_the_measured_fit_is_the_version_and_its_held_out_parts_are_kept(models_dir: Path) -> None:
    examples = demo_examples()

    result = grader_train_and_register(examples=examples, name="measured", fast=True, refit=False)

    directory = models_dir / "graders" / "measured"
    assert result["metrics"]["train_size"] == result["metrics"]["measured_train_size"] == len(examples) - 4
    trained = {(e.question_id, e.answer) for e in examples_load(directory)}
    with (directory / "heldout_unseen_answers.csv").open(encoding="utf-8", newline="") as handle:
        held = [(row["question_id"], row["answer"]) for row in csv.DictReader(handle)]
    assert len(held) == 4 and not trained & set(held)


def test_a_failed_training_leaves_no_version_and_no_files(models_dir: Path) -> None:
    examples = demo_examples()
    examples[5] = replace(examples[5], label="brilliant")

    with pytest.raises(ValueError, match="unknown labels"):
        grader_train_and_register(examples=examples, name="broken", fast=True)

    assert not (models_dir / "graders" / "broken").exists()
    assert not ModelVersion.objects.filter(name="broken").exists()


def test_reviewed_grades_replace_the_earlier_copy_of_the_same_answer() -> None:
    earlier = [
        GradingExample(question="Q", reference_answers=["R"], answer="A frame", label="incorrect", question_id="q1"),
        GradingExample(question="Q", reference_answers=["R"], answer="A packet", label="correct", question_id="q1"),
    ]
    reviewed = [
        GradingExample(question="Q", reference_answers=["R"], answer="A frame ", label="correct", question_id="q1"),
        GradingExample(question="Q2", reference_answers=["R"], answer="A frame", label="incorrect", question_id="q2"),
    ]

    merged = examples_merge(earlier, reviewed)

    assert [(e.question_id, e.answer.strip(), e.label) for e in merged] == [
        ("q1", "A packet", "correct"),
        ("q1", "A frame", "correct"),
        ("q2", "A frame", "incorrect"),
    ]


def test_the_command_trains_activates_and_reports(models_dir: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "answers.csv"
    heldout_csv_write(data, demo_examples())  # the documented CSV layout

    call_command("train_grader", "--data", str(data), "--fast", "--activate", "--name", "cmd-grader")

    report = json.loads(capsys.readouterr().out)
    assert report["version"] == "cmd-grader" and report["activated"] is True
    assert report["metrics"]["refit_on_all"] is True
    assert models.version_for_task("grader").name == "cmd-grader"


def test_the_command_names_the_problem_in_a_bad_file_and_registers_nothing(models_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "answers.csv"
    data.write_text("question_id,question,answer\nq1,What is a frame?,A unit of data\n", encoding="utf-8")

    with pytest.raises(CommandError, match="reference_answer"):
        call_command("train_grader", "--data", str(data), "--fast")

    assert not ModelVersion.objects.filter(kind="grader").exists()
