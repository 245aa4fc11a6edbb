"""The coaching API: upload, speakers (starts the job), state, report, trends; ownership and errors."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from coaching.models import Transcript
from coaching.services import transcript_analysis_run
from core.services import job_run
from tests.coaching.conftest import LESSON_TEXT
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_upload_confirm_state_report_trends(school, django_capture_on_commit_callbacks) -> None:
    client = client_for(school.teacher)
    response = client.post(
        reverse("api-coaching-transcript-list"),
        {
            "file": SimpleUploadedFile("lesson.txt", LESSON_TEXT.encode()),
            "title": "Fractions",
            "lesson_date": "2026-11-20",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "awaiting_speakers" and body["teacher_speakers"] == ["Teacher"]
    assert body["utterance_count"] == 15 and body["lesson_date"] == "2026-11-20"
    transcript_id = body["id"]

    report_url = reverse("api-coaching-transcript-report", args=[transcript_id])
    assert client.get(report_url).status_code == 409

    speakers_url = reverse("api-coaching-transcript-speakers", args=[transcript_id])
    bad = client.post(speakers_url, {"teacher_speakers": ["Ms. Nobody"]}, content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("“Ms. Nobody” is not a speaker")
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(speakers_url, {"teacher_speakers": ["Teacher"]}, content_type="application/json")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    state = client.get(reverse("api-coaching-transcript-detail", args=[transcript_id])).json()
    assert state["status"] == "queued" and state["job"]["id"] == started.json()["id"]

    job_run(job_id=started.json()["id"], work=lambda j: transcript_analysis_run(job=j))
    report = client.get(report_url)
    assert report.status_code == 200
    data = report.json()
    assert [u["line"] for u in data["utterances"]] == list(range(1, 16))
    assert data["segments"][0]["scores"][0]["dimension"] == "instructional_dialogue"
    text_of = {u["line"]: u["text"] for u in data["utterances"]}
    for moment in data["highlights"] + data["missed_opportunities"] + data["suggestions"]:
        assert moment["quote"] in text_of[moment["line"]]
    assert data["provenance"]["policy_version"] == "coaching-policy-4"

    trends = client.get(reverse("api-coaching-trends")).json()
    assert [row["title"] for row in trends] == ["Fractions"]
    assert trends[0]["student_talk_share"] == data["student_talk_share"]


def test_bad_uploads_are_400_with_the_problem(school) -> None:
    client = client_for(school.teacher)
    url = reverse("api-coaching-transcript-list")
    response = client.post(url, {"file": SimpleUploadedFile("empty.txt", b"")})
    assert response.status_code == 400
    response = client.post(url, {"file": SimpleUploadedFile("l.txt", "Teacher: é\nS: ü\n".encode("latin-1"))})
    assert response.status_code == 400 and "is not UTF-8 text" in response.json()["error"]["message"]
    response = client.post(url, {})
    assert response.status_code == 400 and "file" in response.json()["error"]["fields"]
    assert not Transcript.objects.exists()


def test_another_teacher_404_student_403(school) -> None:
    client = client_for(school.teacher)
    response = client.post(
        reverse("api-coaching-transcript-list"), {"file": SimpleUploadedFile("l.txt", LESSON_TEXT.encode())}
    )
    transcript_id = response.json()["id"]
    other = client_for(school.other_teacher)
    for name in ("api-coaching-transcript-detail", "api-coaching-transcript-report"):
        assert other.get(reverse(name, args=[transcript_id])).status_code == 404
        assert client_for(school.student).get(reverse(name, args=[transcript_id])).status_code == 403
    response = other.post(
        reverse("api-coaching-transcript-speakers", args=[transcript_id]),
        {"teacher_speakers": ["Teacher"]},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert Transcript.objects.get().status == Transcript.Status.AWAITING_SPEAKERS
    assert other.get(reverse("api-coaching-transcript-list")).json()["count"] == 0
    assert client_for(school.admin).get(reverse("api-coaching-transcript-list")).json()["count"] == 1
    assert client_for(school.student).post(reverse("api-coaching-transcript-list"), {}).status_code == 403


def test_the_schema_documents_the_coaching_endpoints(school) -> None:
    schema = client_for(school.teacher).get(reverse("api-schema"), {"format": "json"}).json()
    for path in (
        "/api/coaching/transcripts/",
        "/api/coaching/transcripts/{transcript_id}/",
        "/api/coaching/transcripts/{transcript_id}/speakers/",
        "/api/coaching/transcripts/{transcript_id}/report/",
        "/api/coaching/trends/",
    ):
        assert path in schema["paths"], path
    assert "multipart/form-data" in schema["paths"]["/api/coaching/transcripts/"]["post"]["requestBody"]["content"]


def test_list_pages_make_a_fixed_number_of_queries(school, django_assert_max_num_queries) -> None:
    from coaching.services import transcript_upload

    for index in range(4):
        transcript_upload(teacher=school.teacher, data=LESSON_TEXT.encode(), filename=f"l{index}.txt")
    client = client_for(school.teacher)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("api-coaching-transcript-list")).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(reverse("coaching:index")).status_code == 200
