"""Issue 16, item 7: a real Celery worker is killed with SIGKILL in the middle of a grading job; a new
worker takes the job over once its heartbeat is stale; every answer is graded exactly once and the
job finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import Count

from accounts.models import User
from core.models import Job
from datasets_admin.demo import demo_seed
from grading.jobs import GRADING_CHUNK
from grading.models import Assignment, Grade, GradeChange, Submission
from grading.services import assignment_grading_start, submission_create
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.worker import database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
EXTRA_STUDENTS = 2  # 12 demo answers + 8: two chunks (16 and 4), so the kill lands between them
HEARTBEAT_SECONDS, STALE_SECONDS = "0.5", "4"
WORKER_COMMAND = [sys.executable, "-m", "celery", "--app", "config", "worker", "--pool", "solo", "--loglevel", "INFO"]
WORKER_COMMAND += ["--queues", "default,models", "--without-gossip", "--without-mingle"]


@pytest.fixture
def start_worker(transactional_db: None) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(name: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "JOB_HEARTBEAT_SECONDS": HEARTBEAT_SECONDS,
            "JOB_STALE_SECONDS": STALE_SECONDS,
        }
        log = open(ROOT / "var" / f"test-worker-{name}.log", "wb")  # noqa: SIM115 - closed below
        logs.append(log)
        process = subprocess.Popen(
            [*WORKER_COMMAND, "--hostname", f"{name}@%h"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in logs:
            log.close()


def _wait(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(path.read_text()[-2000:] for path in (ROOT / "var").glob("test-worker-*.log"))
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.mark.timeout(1500)  # the real grader writes feedback with the real small model, on a shared CPU
def test_a_grading_job_survives_its_worker_being_killed(start_worker, active_grader) -> None:
    demo_seed()
    teacher = User.objects.get(username="teacher")
    assignment = Assignment.objects.get(title="Networking short answers")
    Grade.objects.filter(submission__question__assignment=assignment).delete()
    questions = list(assignment.questions.all())
    for _ in range(EXTRA_STUDENTS):
        student = StudentFactory()
        EnrollmentFactory(course=assignment.course, student=student)
        for question in questions:
            submission_create(question=question, student=student, answer_text=question.reference_answers[0])
    submissions = Submission.objects.filter(question__assignment=assignment, is_current=True)
    total = submissions.count()
    assert total > GRADING_CHUNK  # the kill lands between chunks, with work left

    first = start_worker("first")
    job = assignment_grading_start(assignment=assignment, user=teacher)

    def graded_some() -> bool:
        job.refresh_from_db()
        assert first.poll() is None, "the first worker stopped by itself"
        return job.status == Job.Status.RUNNING and 0 < job.progress < total

    _wait(graded_some, seconds=420, what="the first chunk to be graded")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    graded_before_the_kill = Grade.objects.filter(submission__in=submissions).count()
    assert graded_before_the_kill < total
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING  # nothing told the database it died

    start_worker("second")
    _wait(lambda: Job.objects.get(pk=job.pk).is_finished, seconds=600, what="the second worker to finish the job")

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.message, job.error)
    assert job.attempts == 2
    assert job.worker.startswith(os.uname().nodename)
    assert Grade.objects.filter(submission__in=submissions).count() == total
    duplicates = (
        GradeChange.objects.filter(grade__submission__in=submissions, action=GradeChange.Action.MACHINE_GRADED)
        .values("grade__submission")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(duplicates) == []
    assert (
        GradeChange.objects.filter(grade__submission__in=submissions, action=GradeChange.Action.MACHINE_GRADED).count()
        == total
    )
