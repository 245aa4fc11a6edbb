"""The coaching pages: upload, speakers, progress, report, print, trends; roles and ownership."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from coaching.models import Transcript
from coaching.services import transcript_analysis_run
from core.services import job_run
from tests.coaching.conftest import LESSON_TEXT, lesson_vtt
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _upload(client, name: str, data: bytes, **extra):
    return client.post(reverse("coaching:transcript_upload"), {"file": SimpleUploadedFile(name, data), **extra})


def _analysed(school, django_capture_on_commit_callbacks) -> Transcript:
    client = client_for(school.teacher)
    response = _upload(client, "fractions.vtt", lesson_vtt().encode(), title="Comparing fractions")
    transcript = Transcript.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("coaching:transcript_speakers", args=[transcript.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("coaching:transcript_speakers", args=[transcript.pk]), {"teacher_speakers": ["Teacher"]}
        )
    assert response.status_code == 302
    transcript.refresh_from_db()
    job_run(job_id=str(transcript.job_id), work=lambda j: transcript_analysis_run(job=j))
    transcript.refresh_from_db()
    return transcript


def test_the_index_lists_own_transcripts_and_keeps_the_reflection_block(school) -> None:
    response = client_for(school.teacher).get(reverse("coaching:index"))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-testid="upload-form"' in content
    assert 'data-testid="reflection-link"' in content
    assert "No transcripts yet." in content


def test_a_bad_upload_shows_the_problem_and_stores_nothing(school) -> None:
    client = client_for(school.teacher)
    response = _upload(client, "alone.txt", b"Teacher: Hello?\nTeacher: Anyone?\n")
    assert response.status_code == 400
    assert "Only one speaker (“Teacher”)" in response.content.decode()
    response = _upload(client, "notes.csv", b"speaker,comment\nT,hi\nS,hey\n")
    assert response.status_code == 400
    assert "no “text” column" in response.content.decode()
    assert not Transcript.objects.exists()


def test_speakers_page_guesses_and_refuses_all_teachers(school) -> None:
    client = client_for(school.teacher)
    _upload(client, "lesson.txt", LESSON_TEXT.encode())
    transcript = Transcript.objects.get()
    page = client.get(reverse("coaching:transcript_speakers", args=[transcript.pk]))
    assert page.status_code == 200
    assert (
        'value="Teacher" checked' in page.content.decode()
        or 'checked value="Teacher"' in page.content.decode()
        or ('value="Teacher"' in page.content.decode() and "checked" in page.content.decode())
    )
    response = client.post(
        reverse("coaching:transcript_speakers", args=[transcript.pk]), {"teacher_speakers": ["Teacher", "Maya", "Leo"]}
    )
    assert response.status_code == 400
    assert "leave at least one speaker as a student" in response.content.decode()
    response = client.post(
        reverse("coaching:transcript_speakers", args=[transcript.pk]), {"teacher_speakers": ["Nobody"]}
    )
    assert response.status_code == 400
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.AWAITING_SPEAKERS


def test_progress_then_report_with_quotes_linked_to_lines(school, django_capture_on_commit_callbacks) -> None:
    client = client_for(school.teacher)
    _upload(client, "lesson.txt", LESSON_TEXT.encode())
    transcript = Transcript.objects.get()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("coaching:transcript_speakers", args=[transcript.pk]), {"teacher_speakers": ["Teacher"]})
    busy = client.get(reverse("coaching:transcript_detail", args=[transcript.pk]))
    assert 'data-testid="analysis-status"' in busy.content.decode() and "<progress" in busy.content.decode()
    status = client.get(
        reverse("coaching:transcript_detail", args=[transcript.pk]) + "?part=status", HTTP_HX_REQUEST="true"
    )
    assert status.status_code == 200 and "HX-Refresh" not in status
    transcript.refresh_from_db()
    job_run(job_id=str(transcript.job_id), work=lambda j: transcript_analysis_run(job=j))
    status = client.get(
        reverse("coaching:transcript_detail", args=[transcript.pk]) + "?part=status", HTTP_HX_REQUEST="true"
    )
    assert status["HX-Refresh"] == "true"
    page = client.get(reverse("coaching:transcript_detail", args=[transcript.pk]))
    content = page.content.decode()
    assert page.status_code == 200
    assert 'id="line-1"' in content and 'data-testid="suggestions-list"' in content
    assert 'href="#line-' in content
    assert "coaching-chart-data" in content and "vendor/plotly/plotly.min.js" in content
    assert "Uptake" in content and "Talk move:" in content  # the per-line analysis, shown on hover


def test_print_and_trends(school, django_capture_on_commit_callbacks) -> None:
    transcript = _analysed(school, django_capture_on_commit_callbacks)
    client = client_for(school.teacher)
    printable = client.get(reverse("coaching:transcript_print", args=[transcript.pk]))
    assert printable.status_code == 200 and 'data-testid="print-report"' in printable.content.decode()
    trends = client.get(reverse("coaching:trends"))
    assert trends.status_code == 200
    assert "Comparing fractions" in trends.content.decode() and "coaching-trends-data" in trends.content.decode()


def test_another_teacher_gets_404_a_student_403_an_admin_the_report(school, django_capture_on_commit_callbacks) -> None:
    transcript = _analysed(school, django_capture_on_commit_callbacks)
    for name in ("transcript_detail", "transcript_print", "transcript_speakers"):
        url = reverse(f"coaching:{name}", args=[transcript.pk])
        assert client_for(school.other_teacher).get(url).status_code == 404
        assert client_for(school.student).get(url).status_code == 403
    assert client_for(school.admin).get(reverse("coaching:transcript_detail", args=[transcript.pk])).status_code == 200
    other = client_for(school.other_teacher)
    assert other.post(reverse("coaching:transcript_delete", args=[transcript.pk])).status_code == 404
    response = other.post(reverse("coaching:transcript_speakers", args=[transcript.pk]), {"teacher_speakers": ["Maya"]})
    assert response.status_code == 404
    transcript.refresh_from_db()
    assert transcript.teacher_speakers == ["Teacher"] and transcript.status == Transcript.Status.READY
    assert "Comparing fractions" not in other.get(reverse("coaching:trends")).content.decode()
    assert "Comparing fractions" not in other.get(reverse("coaching:index")).content.decode()
