from __future__ import annotations

from celery import shared_task

from core.services import job_run


@shared_task(
    name="coaching.model_transcript_analyse_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=900,
    time_limit=960,
)
def transcript_analyse_task(job_id: str) -> None:
    """Analyse a transcript and write its report (the models queue: embeddings and the phrasing model)."""
    from coaching.services import transcript_analysis_run

    job_run(job_id=job_id, work=lambda job: transcript_analysis_run(job=job))
