"""Fine-tuning the tutor's model on teachers' replies: the real model, a few real optimiser steps."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from models_runtime import api as models
from models_runtime.models import ModelVersion
from tests.conftest import School
from tutor.models import Problem, Turn
from tutor.services import session_start, turn_flag, turn_student_create
from tutor.training import correction_examples, mathdial_examples, tutor_model_train_and_register

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def models_dir(tmp_path: Path, settings) -> Path:
    """New versions go to a temporary MODELS_DIR; the default student is linked there, converted once."""
    from models_runtime.conversion import DEFAULT_STUDENT_NAME, ensure_default_student

    source = ensure_default_student()
    directory = tmp_path / "models"
    directory.mkdir()
    (directory / DEFAULT_STUDENT_NAME).symlink_to(source, target_is_directory=True)
    settings.MODELS_DIR = directory
    return directory


def test_each_teacher_turn_becomes_the_target_of_the_products_own_prompt(mathdial_file: Path) -> None:
    examples = mathdial_examples(mathdial_file, split="development")
    # Four development qids (the fifth is held out), three teacher turns each.
    assert len(examples) == 12
    assert {example.source for example in examples} == {"mathdial"}
    assert [example.target for example in examples[:3]] == [
        "Hi Mariana, could you please walk me through your solution?",
        "Why did you subtract the 3 spoons she used?",
        "She still has those spoons. How many is 12 + 3?",
    ]
    second = examples[1].messages[-1]["content"]
    # The prompt is the one the product sends: the problem, the student's message, the policy's planned reply.
    assert "Julia 1" in second and "I started with 12 - 3 = 9" in second
    assert "Your move:" in second
    assert all("Julia 5" not in example.messages[-1]["content"] for example in examples)  # held-out qid


def test_a_teachers_better_reply_is_a_training_example(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I got 4 because 12 - 3 = 9")
    Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)
    assert correction_examples() == []
    turn_flag(turn=reply, teacher=school.teacher, better_reply="  Why did you take away   the 3 spoons? ")
    [example] = correction_examples()
    assert example.source == "correction"
    assert example.target == "Why did you take away the 3 spoons?"
    prompt = example.messages[-1]["content"]
    assert "I got 4 because 12 - 3 = 9" in prompt and reply.planned_text in prompt


def test_training_registers_a_version_that_serves_the_tutor(mathdial_file: Path) -> None:
    out = io.StringIO()
    call_command(
        "train_tutor_model",
        "--data",
        str(mathdial_file),
        "--name",
        "tutor-tiny",
        "--max-steps",
        "2",
        "--evaluate",
        "--activate",
        stdout=out,
        stderr=io.StringIO(),
    )
    result = json.loads(out.getvalue())
    assert result["version"] == "tutor-tiny" and result["activated"] is True
    training = result["metrics"]["training"]
    assert training["steps"] == 2 and training["examples"] == 12 and training["train_loss"] > 0
    # Measured on the held-out qid only (one dialogue, three teacher turns), with the new version.
    assert result["metrics"]["primary"] == "sacrebleu"
    assert result["metrics"]["heldout_dialogues"] == 1
    assert 0 <= result["metrics"]["heldout"]["sacrebleu"] <= 100
    version = ModelVersion.objects.get(name="tutor-tiny")
    assert version.tasks == ["tutor"] and version.kind == "generator"
    assert models.version_for_task("tutor") == version
    directory = Path(version.location)
    assert (directory / "model.safetensors").is_file() and not (directory / "trainer").exists()
    assert not [path for path in directory.parent.iterdir() if path.name.startswith(".tutor-tiny-")]
    # The new files load and write a reply through the same backend as any version.
    [generation] = models.chat_batch(
        task="tutor", conversations=[[{"role": "user", "content": "Hi"}]], max_new_tokens=4
    )
    assert generation.model_version == "tutor-tiny"


def test_a_failed_training_leaves_no_files_and_no_version(mathdial_file: Path, models_dir: Path, monkeypatch) -> None:
    import transformers

    def broken(self, *args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(transformers.Trainer, "train", broken)
    before = set(models_dir.iterdir())
    with pytest.raises(RuntimeError, match="out of memory"):
        tutor_model_train_and_register(data=mathdial_file, name="tutor-broken")
    assert not ModelVersion.objects.filter(name="tutor-broken").exists()
    assert set(models_dir.iterdir()) == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", "/no/such/file.csv"], "No such file"),
        (["--split", "heldout"], "the held-out qids are what --evaluate measures on"),
        (["--epochs", "0"], "--epochs must be more than 0"),
        ([], "only 0 teacher replies to learn from"),
    ],
)
def test_bad_training_requests_say_what_is_wrong(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("train_tutor_model", *arguments, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ModelVersion.objects.filter(name__startswith="tutor-").exists()


def test_a_version_name_is_never_reused(mathdial_file: Path) -> None:
    tutor_model_train_and_register(data=mathdial_file, name="tutor-once", max_steps=1)
    with pytest.raises(CommandError, match="already exists"):
        call_command("train_tutor_model", "--data", str(mathdial_file), "--name", "tutor-once", stdout=io.StringIO())
