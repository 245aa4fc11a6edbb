"""'Grade all answers' on a real Celery worker (tests/worker.py): the service sends the task by its name, the
worker (the `models` queue) finds it, and the job's body grades the answers in the test database."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from core.models import Job
from grading.models import Grade
from tests.conftest import School, client_for
from tests.grading.test_views import answer, make_assignment, questions_of
from tests.worker import worker_log_path

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.timeout(900)  # the real grader writes feedback with the real small model, on a shared CPU
def test_grade_all_answers_runs_on_the_worker(celery_worker_process, active_grader, school: School) -> None:
    assignment = make_assignment(school.course, questions=2)
    submissions = [answer(question, school.student, "It forwards packets.") for question in questions_of(assignment)]

    response = client_for(school.teacher).post(reverse("grading:assignment_grade", args=[assignment.pk]))

    job = Job.objects.get()
    assert response["Location"] == reverse("core:job_detail", args=[job.pk])
    assert job.task_name == "grading.model_assignment_grade_task"
    deadline = time.monotonic() + 840
    while not job.is_finished and time.monotonic() < deadline:
        assert celery_worker_process.poll() is None, worker_log_path().read_text()[-3000:]
        time.sleep(0.5)
        job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error, worker_log_path().read_text()[-3000:])
    assert job.result == {"graded": 2, "regraded": 0, "assignment": "Networks quiz"}
    grades = Grade.objects.filter(submission__in=submissions)
    assert grades.count() == 2
    assert {grade.provenance["grader_version"] for grade in grades} == {"test-grader"}
    assert job.worker != ""
