from __future__ import annotations

from celery import shared_task

from core.services import job_run


@shared_task(name="tutor.model_tutor_train_task", acks_late=True, reject_on_worker_lost=True)
def tutor_model_train_task(job_id: str) -> None:
    """Fine-tune the tutor's model on teachers' better replies; registers a candidate (the models queue)."""
    from tutor.training import tutor_model_training_run

    job_run(job_id=job_id, work=lambda job: tutor_model_training_run(job=job))
