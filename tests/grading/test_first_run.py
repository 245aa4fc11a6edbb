"""A fresh install: the seed prepares a quick first grader that grades the demo assignment, then the full one."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from core.models import Job
from core.services import job_run
from grading import jobs, training
from grading.jobs import grader_training_run
from grading.models import Assignment, Grade
from grading.selectors import GRADER_MISSING
from grading.tasks import assignment_grade_task
from grading.training import examples_read, examples_sample
from models_runtime import api as models
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_dir(tmp_path: Path):
    with override_settings(MODELS_DIR=tmp_path):
        yield tmp_path


def test_the_sample_keeps_every_question_and_every_label() -> None:
    examples = examples_read([training.SEED_DATA_DIR])

    sample = examples_sample(examples, per_question=6)

    questions = {e.question_id for e in examples}
    assert len(sample) == 6 * len(questions)
    for question in questions:
        labels_there = {e.label for e in examples if e.question_id == question}
        labels_kept = {e.label for e in sample if e.question_id == question}
        assert labels_kept == labels_there
    assert examples_sample(examples, per_question=6) == sample  # reproducible


def test_seed_prepares_a_quick_grader_that_grades_the_demo_then_trains_the_full_one(
    models_dir: Path, monkeypatch, settings
) -> None:
    monkeypatch.setattr(jobs, "QUICK_ANSWERS_PER_QUESTION", 6)  # the shape of the run, in less time
    settings.GRADING_MODEL_FEEDBACK = False  # feedback from the teachers' bank: the model's drafts are tested elsewhere
    call_command("seed_demo")
    first = Job.objects.get(kind="grading.retrain")
    assert (first.title, first.params["quick"]) == ("Prepare the first grader", True)
    teacher_page = client_for_username("teacher").get(
        reverse("grading:assignment_detail", args=[Assignment.objects.get().pk])
    )
    page = teacher_page.content.decode()
    # The teacher sees what is being prepared and its progress, and is never told to run a command.
    assert "The first grader is being prepared (0%)" in page
    assert 'data-testid="grader-progress"' in page
    assert "manage.py" not in page

    job_run(job_id=str(first.pk), work=lambda job: grader_training_run(job=job))  # what the worker does

    first.refresh_from_db()
    assert first.status == Job.Status.SUCCEEDED, first.error
    version = models.version_for_task("grader")
    assert version.metrics["quick"] is True and version.name == first.result["version"]
    grading_job = Job.objects.get(kind="grading.assignment")
    assert grading_job.created_by.username == "teacher"  # so the teacher follows it on the assignment page
    # The full training waits until the teacher's answers are graded: the two never share the CPU.
    assert not Job.objects.filter(kind="grading.retrain", status=Job.Status.QUEUED).exists()

    assignment_grade_task(str(grading_job.pk))

    grading_job.refresh_from_db()
    assert grading_job.status == Job.Status.SUCCEEDED, grading_job.error
    full = Job.objects.get(kind="grading.retrain", status=Job.Status.QUEUED)
    assert full.unique_key == "grading.retrain" and not full.params.get("quick")
    grades = Grade.objects.filter(submission__question__assignment__title="Networking short answers")
    assert grades.count() == 12
    assert all(g.status == Grade.Status.AWAITING_REVIEW and g.feedback for g in grades)
    assert {g.provenance["grader_version"] for g in grades} == {version.name}
    page = client_for_username("teacher").get(
        reverse("grading:review", args=[grades[0].submission.question.assignment_id])
    )
    assert page.status_code == 200 and page.content.decode().count('data-testid="grade-card"') == 12
    # Seeding again (the next `make run`) starts nothing new: a grader is active.
    call_command("seed_demo")
    assert Job.objects.filter(kind="grading.retrain").count() == 2


def test_the_full_training_replaces_a_quick_grader(models_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(jobs, "QUICK_ANSWERS_PER_QUESTION", 6)
    quick = training.grader_train_and_register(
        examples=examples_sample(examples_read([training.SEED_DATA_DIR]), per_question=6),
        config=training.GraderConfig.fast(),
        measure=False,
        quick=True,
        activate=True,
        name="quick",
    )
    assert quick["activated"] is True
    # The full training reads the whole seed data again (not the quick one's sample) and activates itself.
    monkeypatch.setattr(jobs, "examples_read", lambda paths: examples_sample(examples_read(paths), per_question=8))
    job = Job.objects.create(kind="grading.retrain", title="Train the grader", params={"fast": True})

    result = grader_training_run(job=job)

    assert result["activated"] is True
    assert models.version_for_task("grader").name == result["version"]
    assert result["metrics"]["quick"] is False and result["metrics"]["train_size"] == 8 * 18


def test_without_a_grader_the_page_asks_nobody_to_run_a_command(school) -> None:
    from tests.grading.test_views import make_assignment

    assignment = make_assignment(school.course)

    teacher_page = client_for(school.teacher).get(reverse("grading:assignment_detail", args=[assignment.pk]))
    admin_page = client_for(school.admin).get(reverse("grading:assignment_detail", args=[assignment.pk]))

    assert GRADER_MISSING in teacher_page.content.decode()
    assert "manage.py" not in teacher_page.content.decode() + admin_page.content.decode()
    assert 'data-testid="grader-first"' not in teacher_page.content.decode()
    assert 'data-testid="grader-first"' in admin_page.content.decode()
    # A teacher may not start it; an admin may, from the page.
    url = reverse("grading:grader_first", args=[assignment.pk])
    assert client_for(school.teacher).post(url).status_code == 403
    assert not Job.objects.exists()
    client_for(school.admin).post(url)
    job = Job.objects.get()
    assert job.params == {"quick": True, "grade_assignment_ids": [assignment.pk]}


def client_for_username(username: str):
    from django.test import Client

    client = Client()
    assert client.login(username=username, password="tutorloop-demo")
    return client
