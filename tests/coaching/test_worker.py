"""The analysis requested on the page runs on a real Celery worker consuming the models queue, with the real
models (MiniLM for uptake, SmolLM2 phrasing the suggestions), and the page then shows the report."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from coaching.models import Transcript
from tests.coaching.conftest import lesson_vtt
from tests.conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_confirming_the_speakers_runs_the_analysis_on_the_models_worker(celery_worker_process, school) -> None:
    client = client_for(school.teacher)
    client.post(reverse("coaching:transcript_upload"), {"file": SimpleUploadedFile("l.vtt", lesson_vtt().encode())})
    transcript = Transcript.objects.get()
    client.post(reverse("coaching:transcript_speakers", args=[transcript.pk]), {"teacher_speakers": ["Teacher"]})
    deadline = time.monotonic() + 600  # a bound on waiting, not an assertion about speed
    while time.monotonic() < deadline:
        transcript.refresh_from_db()
        if not transcript.is_busy:
            break
        assert celery_worker_process.poll() is None, "the worker exited"
        time.sleep(1)
    assert transcript.status == Transcript.Status.READY, transcript.error
    assert transcript.job is not None and transcript.job.worker
    report = transcript.report
    assert report.provenance["uptake_model_version"] == "uptake-pair-ridge-2"
    if report.provenance["phrasing"] == "model":
        assert report.provenance["model_version"] and report.provenance["prompt_template"] == "coaching_suggestion@v1"
    else:
        assert "phrasing_error" in report.provenance
    page = client.get(reverse("coaching:transcript_detail", args=[transcript.pk]))
    assert page.status_code == 200 and 'data-testid="suggestions-list"' in page.content.decode()
