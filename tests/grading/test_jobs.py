"""The body of the grading job (grading.jobs.assignment_grading_run), run as the worker runs it: job_run claims
the job row that the service created and runs the body on it. (The training job's body, both its quick and its
full path, runs in test_first_run.py; the grading job through a real worker in tests/security/test_worker_faults.)"""

from __future__ import annotations

import pytest

from core.models import Job
from core.services import job_run
from grading.jobs import assignment_grading_run
from grading.models import Grade, GradeChange
from grading.selectors import assignment_regradable_grades
from grading.services import assignment_grading_start, grade_override
from tests.grading.factories import saf_class

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _feedback_from_the_bank(settings) -> None:
    # The jobs' flow is tested here; the model's drafts are tested in test_services.py and test_worker.py.
    settings.GRADING_MODEL_FEEDBACK = False


def run(job: Job) -> Job:
    finished = job_run(job_id=str(job.pk), work=lambda claimed: assignment_grading_run(job=claimed))
    assert finished is not None
    return finished


def test_the_grading_job_grades_every_answer_once_then_regrades_with_the_teachers_review(active_grader) -> None:
    saf = saf_class()
    answers = 4 * len(saf.students)

    first = run(assignment_grading_start(assignment=saf.assignment, user=saf.teacher))

    assert first.status == Job.Status.SUCCEEDED, first.error
    assert first.result == {"graded": answers, "regraded": 0, "assignment": "Networking short answers"}
    assert (first.progress, first.total) == (answers, answers)
    assert Grade.objects.filter(submission__question__assignment=saf.assignment).count() == answers
    # The teacher reviews one answer: the other machine grades of its question are graded again with it.
    reviewed = Grade.objects.filter(submission__question__position=1).order_by("pk").first()
    assert reviewed is not None
    grade_override(grade=reviewed, user=saf.teacher, label="incorrect")
    regradable = assignment_regradable_grades(assignment=saf.assignment)
    assert len(regradable) == len(saf.students) - 1

    second = run(assignment_grading_start(assignment=saf.assignment, user=saf.teacher))

    assert second.status == Job.Status.SUCCEEDED, second.error
    assert second.result["graded"] == 0
    assert (second.progress, second.total) == (len(regradable), len(regradable))
    assert GradeChange.objects.filter(action=GradeChange.Action.MACHINE_GRADED).count() == (
        answers + second.result["regraded"]
    )
    assert not Job.objects.filter(kind="grading.retrain").exists()


def test_the_first_graders_grading_job_starts_the_full_training_when_it_is_done(active_grader) -> None:
    saf = saf_class()

    job = run(assignment_grading_start(assignment=saf.assignment, user=saf.teacher, then_train_full_grader=True))

    assert job.status == Job.Status.SUCCEEDED, job.error
    training = Job.objects.get(kind="grading.retrain")
    assert (training.status, training.unique_key, training.task_name, training.created_by) == (
        Job.Status.QUEUED,
        "grading.retrain",
        "grading.model_grader_train_task",
        saf.teacher,
    )
