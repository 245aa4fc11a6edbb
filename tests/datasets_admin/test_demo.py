from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Course, Enrollment, User
from grading.models import Question, Submission
from tutor.models import Problem

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_people_content_and_is_idempotent(capsys, monkeypatch) -> None:
    monkeypatch.setenv("TUTORLOOP_PORT", "8011")  # as `make run PORT=8011` sets it
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "Log in at http://127.0.0.1:8011 as:" in out
    assert "teacher  password: tutorloop-demo" in out
    counts = (
        User.objects.count(),
        Course.objects.count(),
        Enrollment.objects.count(),
        Question.objects.count(),
        Submission.objects.count(),
        Problem.objects.count(),
    )
    assert counts == (5, 1, 3, 4, 12, 10)
    call_command("seed_demo")
    assert (
        User.objects.count(),
        Course.objects.count(),
        Enrollment.objects.count(),
        Question.objects.count(),
        Submission.objects.count(),
        Problem.objects.count(),
    ) == counts
    assert Problem.objects.filter(is_assigned=True).count() == 6
    assert User.objects.get(username="teacher").check_password("tutorloop-demo")


def test_seed_restarts_a_grader_training_orphaned_by_a_stopped_worker() -> None:
    from core.models import Job

    call_command("seed_demo")
    first = Job.objects.get(kind="grading.retrain")
    Job.objects.filter(pk=first.pk).update(status=Job.Status.RUNNING)
    call_command("seed_demo")
    first.refresh_from_db()
    assert first.status == Job.Status.FAILED
    assert first.message == "Interrupted: the worker stopped. Started again."
    assert Job.objects.filter(kind="grading.retrain", status=Job.Status.QUEUED).count() == 1
    call_command("seed_demo")  # a queued job is left for the worker
    assert Job.objects.filter(kind="grading.retrain").count() == 2
