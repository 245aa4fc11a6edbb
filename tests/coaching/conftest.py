"""Coaching fixtures: small transcripts in every format, and a real Celery worker on the models queue."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

# A short fractions lesson (written for these tests) in the `Speaker: text` layout.
LESSON_TEXT = """Teacher: Today we compare fractions. What do you notice about three fourths and two thirds?
Maya: Three fourths is bigger because each fourth is only a little smaller than a third and there are three of them.
Teacher: Okay.
Leo: Two thirds.
Teacher: Is it two thirds? Is that bigger? Is the denominator three?
Leo: Yes.
Teacher: Is three smaller than four?
Leo: Yes.
Teacher: So which is bigger?
Maya: I think they are the same because both are one piece away from a whole.
Teacher: So you're saying both are one piece away from a whole. Do you agree, Leo? Why?
Leo: No, because the fourth piece is smaller than the third piece, so three fourths is closer to one.
Teacher: Good. Let's write that down. Everyone, copy the number line from the board now please.
Maya: Can we use colours?
Teacher: Yes.
"""


def lesson_vtt() -> str:
    cues = []
    clock = 0.0
    for raw in LESSON_TEXT.strip().splitlines():
        speaker, text = raw.split(": ", 1)
        start, end = clock, clock + 4.0
        cues.append(f"{_stamp(start)} --> {_stamp(end)}\n<v {speaker}>{text}\n")
        clock = end + (1.0 if speaker == "Teacher" else 0.5)
    return "WEBVTT\n\n" + "\n".join(cues)


def _stamp(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"00:{int(minutes):02d}:{secs:06.3f}"


@pytest.fixture
def models_worker(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process consuming the models queue, over the configured broker and test database."""
    from tests.core.test_worker import _database_url

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "test-coaching-worker.log", "wb")  # noqa: SIM115 - closed below
    command = [sys.executable, "-m", "celery", "--app", "config", "worker", "--pool", "solo", "--loglevel", "INFO"]
    command += ["--queues", "models", "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
