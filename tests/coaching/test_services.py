"""Upload, speakers, the analysis job and the stored report; bad input stores nothing."""

from __future__ import annotations

import pytest

from coaching.models import CoachingReport, Transcript, Utterance
from coaching.parsing import TranscriptFileError
from coaching.services import transcript_analysis_run, transcript_speakers_confirm, transcript_upload
from core.errors import ConflictError, NotFoundError
from core.models import Job
from core.services import job_run
from tests.coaching.conftest import LESSON_TEXT, lesson_vtt

pytestmark = pytest.mark.django_db


def test_upload_stores_every_turn_and_guesses_the_teacher(school) -> None:
    transcript = transcript_upload(teacher=school.teacher, data=lesson_vtt().encode(), filename="fractions.vtt")
    assert transcript.title == "fractions"
    assert transcript.status == Transcript.Status.AWAITING_SPEAKERS
    assert transcript.source_format == "vtt" and transcript.has_times
    assert transcript.teacher_speakers == ["Teacher"]
    assert [s["name"] for s in transcript.speakers] == ["Teacher", "Maya", "Leo"]
    assert transcript.utterances.count() == 15
    first = transcript.utterances.get(line=1)
    assert (first.speaker, first.start, first.end) == ("Teacher", 0.0, 4.0)


@pytest.mark.parametrize(
    ("data", "filename"),
    [(b"", "x.txt"), (b"\x00\x01\x02binary", "x.txt"), (b"Teacher: alone\n", "x.txt"), (b"a,b\n1,2\n", "x.csv")],
)
def test_a_bad_file_stores_nothing(school, data: bytes, filename: str) -> None:
    with pytest.raises(TranscriptFileError):
        transcript_upload(teacher=school.teacher, data=data, filename=filename)
    assert Transcript.objects.count() == 0
    assert Utterance.objects.count() == 0


def test_unknown_speaker_names_are_refused_and_nothing_changes(school) -> None:
    transcript = transcript_upload(teacher=school.teacher, data=LESSON_TEXT.encode(), filename="l.txt")
    with pytest.raises(TranscriptFileError, match=r"“Mr\. Nobody” is not a speaker"):
        transcript_speakers_confirm(transcript=transcript, user=school.teacher, teacher_speakers=["Mr. Nobody"])
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.AWAITING_SPEAKERS
    assert not Job.objects.exists()
    assert set(transcript.utterances.values_list("role", flat=True)) == {""}


def test_another_teacher_cannot_confirm_the_speakers(school) -> None:
    transcript = transcript_upload(teacher=school.teacher, data=LESSON_TEXT.encode(), filename="l.txt")
    with pytest.raises(NotFoundError):
        transcript_speakers_confirm(transcript=transcript, user=school.other_teacher, teacher_speakers=["Teacher"])
    assert not Job.objects.exists()


def test_the_analysis_job_stores_the_report_with_provenance(school, django_capture_on_commit_callbacks) -> None:
    transcript = transcript_upload(teacher=school.teacher, data=lesson_vtt().encode(), filename="l.vtt")
    with django_capture_on_commit_callbacks(execute=False):  # the worker test runs the real task; here, in-process
        job = transcript_speakers_confirm(transcript=transcript, user=school.teacher, teacher_speakers=["Teacher"])
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.QUEUED and transcript.job == job
    with pytest.raises(ConflictError):
        transcript_speakers_confirm(transcript=transcript, user=school.teacher, teacher_speakers=["Teacher"])

    finished = job_run(job_id=str(job.pk), work=lambda j: transcript_analysis_run(job=j))
    assert finished is not None and finished.status == Job.Status.SUCCEEDED, finished.error if finished else ""
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.READY
    report = CoachingReport.objects.get(transcript=transcript)
    assert report.provenance["policy_version"] == "coaching-policy-4"
    assert report.provenance["uptake_model_version"] == "uptake-pair-ridge-2"
    assert report.provenance["phrasing"] in ("model", "template")
    if report.provenance["phrasing"] == "model":
        assert report.provenance["model_version"] == "smollm2-135m-instruct"
        assert report.provenance["prompt_template"] == "coaching_suggestion@v1"
    text_of = dict(transcript.utterances.values_list("line", "text"))
    for moment in report.highlights + report.missed_opportunities + report.suggestions:
        assert moment["quote"] in text_of[moment["line"]]
    for suggestion in report.suggestions:
        assert f"line {suggestion['line']}" in suggestion["text"]
    roles = dict(transcript.utterances.values_list("speaker", "role").distinct())
    assert roles == {"Teacher": "teacher", "Maya": "student", "Leo": "student"}
    assert transcript.utterances.filter(role="teacher").exclude(move="").count() == 8
    assert report.student_talk_share == pytest.approx(0.49, abs=0.1)
    assert finished.result["suggestions"] == len(report.suggestions)


def test_a_failing_analysis_leaves_no_report_and_says_so(
    school, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    transcript = transcript_upload(teacher=school.teacher, data=LESSON_TEXT.encode(), filename="l.txt")
    with django_capture_on_commit_callbacks(execute=False):
        job = transcript_speakers_confirm(transcript=transcript, user=school.teacher, teacher_speakers=["Teacher"])

    def broken_store(**kwargs):  # a fault injected where the report is written
        raise RuntimeError("disk full")

    monkeypatch.setattr("coaching.services.report_store", broken_store)
    finished = job_run(job_id=str(job.pk), work=lambda j: transcript_analysis_run(job=j))
    assert finished is not None and finished.status == Job.Status.FAILED
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.FAILED and "disk full" in transcript.error
    assert not CoachingReport.objects.exists()
    assert set(transcript.utterances.values_list("move", flat=True)) == {""}


def test_a_cancelled_analysis_goes_back_to_the_speakers(school, django_capture_on_commit_callbacks) -> None:
    transcript = transcript_upload(teacher=school.teacher, data=LESSON_TEXT.encode(), filename="l.txt")
    with django_capture_on_commit_callbacks(execute=False):
        job = transcript_speakers_confirm(transcript=transcript, user=school.teacher, teacher_speakers=["Teacher"])
    Job.objects.filter(pk=job.pk).update(is_cancel_requested=True)  # asked while it runs: stops at its next step
    finished = job_run(job_id=str(job.pk), work=lambda j: transcript_analysis_run(job=j))
    assert finished is not None and finished.status == Job.Status.CANCELLED
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.AWAITING_SPEAKERS
    assert not CoachingReport.objects.exists()
