from __future__ import annotations

from celery import shared_task

from core.services import job_run


@shared_task(name="reflection.model_question_generate_task", acks_late=True, reject_on_worker_lost=True)
def question_generate_task(job_id: str) -> None:
    """Run a reflection-question dialogue (the models queue: long model work)."""
    from coaching.reflection.services import dialogue_run

    job_run(job_id=job_id, work=lambda job: dialogue_run(job=job))
