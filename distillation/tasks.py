from __future__ import annotations

from celery import shared_task

from core.services import job_run


@shared_task(name="distillation.model_step_task", acks_late=True, reject_on_worker_lost=True)
def step_task(job_id: str) -> None:
    """One step of a distillation run (the models queue: long model work)."""
    from distillation.services import step_job_run

    job_run(job_id=job_id, work=lambda job: step_job_run(job=job))
