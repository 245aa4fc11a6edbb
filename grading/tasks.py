from __future__ import annotations

from celery import shared_task

from core.services import job_run


@shared_task(name="grading.model_assignment_grade_task", acks_late=True, reject_on_worker_lost=True)
def assignment_grade_task(job_id: str) -> None:
    """Grade an assignment's ungraded answers (the models queue: long model work)."""
    from grading.services import assignment_grading_run

    job_run(job_id=job_id, work=lambda job: assignment_grading_run(job=job))


@shared_task(name="grading.model_grader_train_task", acks_late=True, reject_on_worker_lost=True)
def grader_train_task(job_id: str) -> None:
    """Retrain the grader from the seed data and teachers' reviewed grades; registers a candidate."""
    from grading.training import grader_training_run

    job_run(job_id=job_id, work=lambda job: grader_training_run(job=job))
