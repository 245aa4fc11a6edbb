"""Inside each Celery worker: a thread that records the worker's heartbeat and requeues the jobs
of workers that died (core.services.job_recover_stale). Connected by CoreConfig.ready()."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from core.services import job_recover_stale, worker_heartbeat_delete, worker_heartbeat_record

logger = logging.getLogger(__name__)

_stop = threading.Event()
_state: dict[str, Any] = {}


def _beat(hostname: str, queues: str) -> None:
    started_at = timezone.now()
    try:
        while True:
            try:
                worker_heartbeat_record(hostname=hostname, queues=queues, started_at=started_at)
                moved = job_recover_stale()
                if moved:
                    logger.warning("requeued or failed %s job(s) whose worker had stopped", moved)
            except DatabaseError:
                logger.warning("worker heartbeat not recorded", exc_info=True)
            if _stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                break
    finally:
        connection.close()


@worker_ready.connect
def _worker_ready(sender: Any = None, **kwargs: Any) -> None:
    hostname = str(getattr(sender, "hostname", "") or "worker")
    task_consumer = getattr(sender, "task_consumer", None)
    queues = ",".join(sorted(queue.name for queue in getattr(task_consumer, "queues", None) or []))
    _stop.clear()
    thread = threading.Thread(target=_beat, args=(hostname, queues), name="worker-heartbeat", daemon=True)
    _state.update(hostname=hostname, thread=thread)
    thread.start()


@worker_shutdown.connect
def _worker_shutdown(**kwargs: Any) -> None:
    _stop.set()
    thread = _state.get("thread")
    if thread is not None:
        thread.join(timeout=10)
    if "hostname" in _state:
        try:
            worker_heartbeat_delete(hostname=_state["hostname"])
        except DatabaseError:
            logger.warning("worker heartbeat not removed", exc_info=True)
        finally:
            connection.close()
