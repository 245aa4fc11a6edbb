from __future__ import annotations

from celery import shared_task

from core.services import job_run


@shared_task(
    name="datasets_admin.upload_import_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=1740,
    time_limit=1800,
)
def upload_import_task(job_id: str) -> None:
    """Import an admin's uploaded transcripts and comments (classified and linked on the way)."""
    from datasets_admin.services import upload_run

    job_run(job_id=job_id, work=lambda job: upload_run(job=job))


@shared_task(
    name="datasets_admin.classifier_train_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=1740,
    time_limit=1800,
)
def classifier_train_task(job_id: str) -> None:
    """Retrain the comment classifier with admins' corrections and relabel the stored comments."""
    from datasets_admin.services import classifier_training_run

    job_run(job_id=job_id, work=lambda job: classifier_training_run(job=job))
