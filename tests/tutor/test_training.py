"""Fine-tuning the tutor's model on teachers' replies: the real model, a few real optimiser steps."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.models import Job
from core.services import job_run
from models_runtime import api as models
from models_runtime.models import ModelVersion
from tests.conftest import School, client_for
from tutor.models import Problem, Turn
from tutor.services import session_abandon, session_start, turn_flag, turn_student_create
from tutor.training import (
    correction_examples,
    mathdial_examples,
    tutor_model_train_and_register,
    tutor_model_training_run,
)

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


def test_training_registers_a_version_that_serves_the_tutor(mathdial_file: Path, capfd) -> None:
    out = io.StringIO()
    call_command(
        "train_tutor_model",
        "--data",
        str(mathdial_file),
        "--name",
        "tutor-tiny",
        "--max-steps",
        "2",
        "--seed",
        "3",
        "--evaluate",
        "--activate",
        stdout=out,
        stderr=io.StringIO(),
    )
    result = json.loads(out.getvalue())
    assert "train_runtime" not in capfd.readouterr().out  # the trainer's own log lines stay off the command's output
    assert result["version"] == "tutor-tiny" and result["activated"] is True
    training = result["metrics"]["training"]
    assert training["steps"] == 2 and training["examples"] == 12 and training["train_loss"] > 0
    assert training["seed"] == 3  # stored with the version, so a figure can be reproduced
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
        (["--evaluate", "--split", "all"], "--evaluate measures on the held-out qids"),
        ([], "only 0 teacher replies to learn from"),
    ],
)
def test_bad_training_requests_say_what_is_wrong(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("train_tutor_model", *arguments, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ModelVersion.objects.filter(name__startswith="tutor-").exists()


def test_a_version_name_is_never_reused(mathdial_file: Path) -> None:
    # The name is checked before any training (test_training_registers_a_version_that_serves_the_tutor trains
    # and registers for real): a version of that name, as the registry holds it, is enough.
    ModelVersion.objects.create(
        name="tutor-once", base_model="SmolLM2-135M-Instruct", kind="generator", location="", tasks=["tutor"]
    )
    with pytest.raises(CommandError, match="already exists"):
        call_command("train_tutor_model", "--data", str(mathdial_file), "--name", "tutor-once", stdout=io.StringIO())


# --- the admins' job: train on teachers' better replies ------------------------------------------------
def _flag_replies(school: School, problem: Problem, count: int) -> None:
    for number in range(count):
        session, _ = session_start(student=school.student, problem=problem)
        _, reply = turn_student_create(session=session, student=school.student, text=f"I got {number + 20}")
        Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)
        turn_flag(turn=reply, teacher=school.teacher, better_reply=f"How did you get {number + 20}?")
        session_abandon(session=session, student=school.student)


def test_only_admins_start_the_training_job_and_see_how_many_replies_it_learns_from(
    school: School, problem: Problem
) -> None:
    _flag_replies(school, problem, 2)
    assert client_for(school.teacher).post(reverse("tutor:model_train")).status_code == 403
    assert "model-train" not in client_for(school.teacher).get(reverse("tutor:dashboard")).content.decode()
    admin = client_for(school.admin)
    page = admin.get(reverse("tutor:dashboard")).content.decode()
    assert 'data-testid="better-reply-count">2<' in page
    response = admin.post(reverse("tutor:model_train"))
    job = Job.objects.get()
    assert (job.kind, job.unique_key) == ("tutor.model_train", "tutor.model_train")
    assert response["Location"] == reverse("core:job_detail", args=[job.pk])


def test_the_job_refuses_too_few_replies_and_trains_on_enough(school: School, problem: Problem) -> None:
    _flag_replies(school, problem, 3)
    job = Job.objects.create(kind="tutor.model_train", title="Train", params={"max_steps": 1}, created_by=school.admin)
    job_run(job_id=str(job.pk), work=lambda claimed: tutor_model_training_run(job=claimed))
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "only 3 teacher replies to learn from" in job.error
    assert not ModelVersion.objects.filter(name__startswith="tutor-").exists()

    _flag_replies(school, problem, 5)
    job = Job.objects.create(kind="tutor.model_train", title="Train", params={"max_steps": 1}, created_by=school.admin)
    job_run(job_id=str(job.pk), work=lambda claimed: tutor_model_training_run(job=claimed))
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = ModelVersion.objects.get(name=job.result["version"])
    assert job.result["metrics"]["examples"] == {"mathdial": 0, "correction": 8}
    assert version.made_by_job == str(job.pk)
    # A candidate: the tutor keeps its current model until an admin activates the new one.
    assert models.version_for_task("tutor") != version


def test_a_version_scoring_lower_stays_a_candidate(mathdial_file: Path, models_dir: Path, monkeypatch) -> None:
    from models_runtime.conversion import DEFAULT_STUDENT_NAME
    from tutor import training

    # The version serving the tutor now: the default student's files, measured at 7.9 on the held-out qids.
    serving = models.version_register(
        name="tutor-first",
        base_model=DEFAULT_STUDENT_NAME,
        kind="generator",
        location=str(models_dir / DEFAULT_STUDENT_NAME),
        tasks=["tutor"],
        metrics={"primary": "sacrebleu", "heldout": {"sacrebleu": 7.9, "rouge_l": 0.2, "model_text_kept": 0.3}},
    )
    models.version_activate(version=serving, task="tutor", user=None, reason="serving now")

    def measured(version, *, data, limit=None):
        return {"sacrebleu": 7.7, "rouge_l": 0.2, "model_text_kept": 0.3, "dialogues": 1}

    def copied(examples, *, output_dir, base_dir, **options):
        # A stand-in for the optimiser (the tests above train for real): the new version is the base's files.
        for path in Path(base_dir).iterdir():
            (Path(output_dir) / path.name).symlink_to(path.resolve())
        return {"steps": 1, "examples": len(examples)}

    monkeypatch.setattr(training, "evaluate_version", measured)
    monkeypatch.setattr(training, "tutor_model_train", copied)
    second = tutor_model_train_and_register(
        data=mathdial_file, name="tutor-second", max_steps=1, evaluate=True, activate=True
    )
    assert second["activated"] is False
    assert "scores worse on held-out data than tutor-first (sacrebleu: 7.7 against 7.9)" in second["not_activated"]
    assert models.version_for_task("tutor").name == "tutor-first"
    assert ModelVersion.objects.get(name="tutor-second").status == ModelVersion.Status.CANDIDATE
