"""grading's Celery tasks: each claims its job row and runs the job's body (grading.jobs) on it. The services
enqueue them by name (grading.services.ASSIGNMENT_GRADE_TASK, GRADER_TRAIN_TASK)."""

from __future__ import annotations

from celery import shared_task

from core.services import job_run
from grading.jobs import assignment_grading_run, grader_training_run
from grading.services import ASSIGNMENT_GRADE_TASK, GRADER_TRAIN_TASK


@shared_task(name=ASSIGNMENT_GRADE_TASK, acks_late=True, reject_on_worker_lost=True)
def assignment_grade_task(job_id: str) -> None:
    """Grade an assignment's ungraded answers (the models queue: long model work)."""
    job_run(job_id=job_id, work=lambda job: assignment_grading_run(job=job))


@shared_task(name=GRADER_TRAIN_TASK, acks_late=True, reject_on_worker_lost=True)
def grader_train_task(job_id: str) -> None:
    """Retrain the grader from the seed data and teachers' reviewed grades; registers a candidate."""
    job_run(job_id=job_id, work=lambda job: grader_training_run(job=job))
