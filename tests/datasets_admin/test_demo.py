from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Course, Enrollment, User
from grading.models import Question, Submission
from tutor.models import Problem

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_people_content_and_is_idempotent(capsys) -> None:
    call_command("seed_demo")
    out = capsys.readouterr().out
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
