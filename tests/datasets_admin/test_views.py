from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import Job
from core.services import job_run
from datasets_admin.models import Comment, CommentCorrection, Dataset, DatasetVersion, Lecture
from datasets_admin.parsers import MAX_UPLOAD_BYTES
from datasets_admin.services import upload_run
from datasets_admin.sight_demo import SIGHT_DEMO_DIR
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _pages(sight_demo) -> list[str]:
    lecture = Lecture.objects.get(video_id="Z_5uLqcwDgM")
    dataset = Dataset.objects.get(kind="comments")
    return [
        reverse("datasets_admin:index"),
        reverse("datasets_admin:upload"),
        reverse("datasets_admin:course_detail", args=[lecture.course.code]),
        reverse("datasets_admin:lecture_detail", args=[lecture.pk]),
        reverse("datasets_admin:classifier"),
        reverse("datasets_admin:dataset_detail", args=[dataset.slug]),
        reverse("datasets_admin:dataset_export", args=[dataset.slug, 1, "csv"]),
        "/api/datasets/",
        f"/api/datasets/{dataset.slug}/",
        f"/api/datasets/{dataset.slug}/versions/1/rows/",
        "/api/datasets/courses/",
    ]


def test_teachers_and_students_get_403_and_change_nothing(sight_demo, school) -> None:
    comment = Comment.objects.get(external_id="8807")
    before = list(comment.categories)
    for user in (school.teacher, school.student):
        client = client_for(user)
        for url in _pages(sight_demo):
            assert client.get(url).status_code == 403, url
        assert client.post(reverse("datasets_admin:comment_label", args=[comment.pk, "confusion"])).status_code == 403
        assert client.post(f"/api/datasets/comments/{comment.pk}/labels/confusion/").status_code == 403
        assert client.post(reverse("datasets_admin:classifier_retrain")).status_code == 403
        upload = SimpleUploadedFile("x.txt", b"a lecture")
        assert client.post(reverse("datasets_admin:upload"), {"files": [upload]}).status_code == 403
    comment.refresh_from_db()
    assert comment.categories == before
    assert (CommentCorrection.objects.count(), Job.objects.count(), Lecture.objects.count()) == (0, 0, 3)


def test_admin_pages_show_the_demo(sight_demo, school, django_assert_max_num_queries) -> None:
    client = client_for(school.admin)
    for url in _pages(sight_demo):
        assert client.get(url).status_code == 200, url
    lecture = Lecture.objects.get(video_id="Z_5uLqcwDgM")
    page = client.get(reverse("datasets_admin:lecture_detail", args=[lecture.pk])).content.decode()
    assert page.count('data-testid="confused-passage"') == len(
        set(lecture.comments.filter(passage__isnull=False).values_list("passage_id", flat=True))
    )
    assert "can someone explain" in page
    course = client.get(reverse("datasets_admin:course_detail", args=[lecture.course.code])).content.decode()
    assert 'id="course-chart-data"' in course and "The most confusing lectures" in course
    upload = client.get(reverse("datasets_admin:upload")).content.decode()
    assert f"At most <strong>{MAX_UPLOAD_BYTES // 2**20} MB per file</strong>" in upload
    with django_assert_max_num_queries(12):
        client.get(reverse("datasets_admin:classifier"))
    with django_assert_max_num_queries(12):
        client.get(reverse("datasets_admin:lecture_detail", args=[lecture.pk]))


def test_low_agreement_categories_are_greyed_not_hidden(sight_demo, school) -> None:
    page = client_for(school.admin).get(reverse("datasets_admin:classifier")).content.decode()
    from datasets_admin.selectors import classifier_summary

    rows = classifier_summary()["rows"]
    assert len(rows) == 10
    for row in rows:
        marker = f'<tr class="{"" if row["is_trusted"] else "untrusted"}" data-testid="agreement-{row["category"]}">'
        assert marker in page, row["category"]
    assert any(not row["is_trusted"] for row in rows)  # personal experience and n/a are weak on held-out comments


def test_one_click_flips_a_label_and_records_the_correction(sight_demo, school) -> None:
    comment = Comment.objects.get(external_id="8807")
    client = client_for(school.admin)
    response = client.post(
        reverse("datasets_admin:comment_label", args=[comment.pk, "gratitude"]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'data-category="gratitude"' in response.content.decode()
    comment.refresh_from_db()
    assert "gratitude" in comment.categories
    assert CommentCorrection.objects.get().is_present is True
    api = client.post(f"/api/datasets/comments/{comment.pk}/labels/gratitude/")
    assert api.status_code == 200 and "gratitude" not in api.json()["categories"]
    bad = client.post(f"/api/datasets/comments/{comment.pk}/labels/funny/")
    assert bad.status_code == 400 and "not one of the categories" in bad.json()["error"]["message"]
    assert client.post("/api/datasets/comments/999999/labels/gratitude/").status_code == 404


def test_upload_page_runs_a_job_that_reports_each_refusal(db, school, django_capture_on_commit_callbacks) -> None:
    client = client_for(school.admin)
    files = [
        SimpleUploadedFile("Z_5uLqcwDgM.txt", (SIGHT_DEMO_DIR / "transcripts" / "Z_5uLqcwDgM.txt").read_bytes()),
        SimpleUploadedFile("Z_5uLqcwDgM.json", (SIGHT_DEMO_DIR / "metadata" / "Z_5uLqcwDgM.json").read_bytes()),
        SimpleUploadedFile("cp1252.txt", "Vorlesung über Matrizen".encode("cp1252")),
    ]
    response = client.post(reverse("datasets_admin:upload"), {"files": files, "course": ""})
    job = Job.objects.get(kind="datasets_admin.upload")
    assert response.status_code == 302 and response["Location"] == reverse(
        "datasets_admin:upload_detail", args=[job.pk]
    )
    job_run(job_id=str(job.pk), work=lambda j: upload_run(job=j))  # what the worker does
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.result["lectures"], job.result["refused_files"]) == (1, ["cp1252.txt"])
    page = client.get(reverse("datasets_admin:upload_detail", args=[job.pk])).content.decode()
    assert "cp1252.txt" in page and "is not UTF-8 text" in page
    assert list(Lecture.objects.values_list("video_id", flat=True)) == ["Z_5uLqcwDgM"]
    assert not Path(job.params["folder"]).exists()  # the staged copies are gone


def test_oversized_upload_is_refused_before_reading(db, school) -> None:
    client = client_for(school.admin)
    response = client.post(
        reverse("datasets_admin:upload"),
        data=b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(2 * 1024**3),
    )
    assert response.status_code == 413
    assert "Nothing was stored" in response.content.decode()
    assert Job.objects.count() == 0


def test_over_limit_file_is_skipped_and_named(db, school, settings, monkeypatch) -> None:
    from datasets_admin import uploads

    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    monkeypatch.setattr(uploads.SizeLimitUploadHandler.__init__, "__kwdefaults__", {"limit": 10})
    client = client_for(school.admin)
    response = client.post(
        reverse("datasets_admin:upload"),
        {"files": [SimpleUploadedFile("big.txt", b"y" * 100), SimpleUploadedFile("small.txt", b"ok")]},
    )
    job = Job.objects.get()
    assert response.status_code == 302
    assert [f["name"] for f in job.params["files"]] == ["small.txt"]
    assert job.params["refused"][0]["file"] == "big.txt"
    assert "larger than the limit of 0 MB" in job.params["refused"][0]["message"]


def test_csv_export_of_comments_is_spreadsheet_safe(sight_demo, school) -> None:
    dataset = Dataset.objects.get(kind="comments")
    client = client_for(school.admin)
    response = client.get(reverse("datasets_admin:dataset_export", args=[dataset.slug, 1, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["video_id", "comment_id", "comment", "categories", "link_method", "passage"]
    assert len(rows) == 94
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert client.get(reverse("datasets_admin:dataset_export", args=[dataset.slug, 1, "exe"])).status_code == 404
    assert client.get(reverse("datasets_admin:dataset_export", args=[dataset.slug, 9, "csv"])).status_code == 404
    api = client.get(f"/api/datasets/{dataset.slug}/")
    assert api.json()["versions"][0]["row_count"] == 93
    assert client.get("/api/datasets/?kind=nonsense").status_code == 400
    assert DatasetVersion.objects.count() == 2


def test_other_apps_data_is_registered_through_their_selectors(db, school) -> None:
    assert client_for(school.teacher).post(reverse("datasets_admin:dataset_sync")).status_code == 403
    assert Dataset.objects.count() == 0
    response = client_for(school.admin).post(reverse("datasets_admin:dataset_sync"))
    assert response.status_code == 302
    sessions = DatasetVersion.objects.select_related("dataset").get(dataset__slug="tutoring-sessions")
    assert (sessions.dataset.owner_app, sessions.dataset.kind, sessions.number, sessions.row_count) == (
        "tutor", "tutoring_sessions", 1, 0,
    )  # fmt: skip
    client_for(school.admin).post(reverse("datasets_admin:dataset_sync"))
    assert DatasetVersion.objects.count() == 6  # six data sets, and nothing changed: no new version


def test_graded_answers_coaching_and_reflection_are_registered_without_names(db, school) -> None:
    import datetime
    from decimal import Decimal

    from django.utils import timezone

    from coaching.models import CoachingReport, Transcript
    from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment
    from grading.models import Assignment, Grade, Question, Submission

    assignment = Assignment.objects.create(course=school.course, title="Networks 1")
    question = Question.objects.create(
        assignment=assignment, text="What does TCP add?", reference_answers=["Reliability"], max_points=Decimal(1)
    )
    answered = Submission.objects.create(question=question, student=school.student, answer_text="Ordering")
    pending = Submission.objects.create(question=question, student=school.other_student, answer_text="Speed")
    common = {"confidence": 0.5, "model_label": "incorrect", "model_score": Decimal(0), "model_feedback": "No."}
    Grade.objects.create(
        submission=answered, label="partially_correct", score=Decimal("0.5"), feedback="Ordering, yes; and?",
        status=Grade.Status.OVERRIDDEN, was_overridden=True, **common,
    )  # fmt: skip
    Grade.objects.create(submission=pending, label="incorrect", score=Decimal(0), feedback="No.", **common)
    transcript = Transcript.objects.create(teacher=school.teacher, title="Fractions", source_format="text")
    transcript.utterances.create(line=1, speaker="Ms Rivera", role="teacher", text="Why is it half?")
    transcript.utterances.create(line=2, speaker="Sam Lee", role="student", text="Because two parts.")
    CoachingReport.objects.create(transcript=transcript, student_talk_share=0.4, provenance={"policy": "t"})
    Transcript.objects.create(teacher=school.teacher, title="Not analysed yet", source_format="text")
    dialogue = Dialogue.objects.create(
        course=school.course, topic="Photosynthesis", level="grade 8", final_question="Why do leaves need light?"
    )
    dialogue.rounds.create(number=1, draft="What is light?", checks=[], coaching="Ask why.")
    bank = BankQuestion.objects.create(course=school.course, text="Why do leaves need light?", dialogue=dialogue)
    assigned = QuestionAssignment.objects.create(
        question=bank, course=school.course, due_at=timezone.now() + datetime.timedelta(days=3)
    )
    Answer.objects.create(assignment=assigned, student=school.student, text="To make sugar.")

    assert client_for(school.admin).post(reverse("datasets_admin:dataset_sync")).status_code == 302
    versions = {v.dataset.slug: v for v in DatasetVersion.objects.select_related("dataset").prefetch_related("rows")}
    graded = [row.data for row in versions["graded-answers"].rows.all()]
    assert [(r["answer"], r["label"], r["model_label"], r["student"]) for r in graded] == [
        ("Ordering", "partially_correct", "incorrect", "student-1")
    ]  # the grade still awaiting review is not a teacher's decision yet
    coaching = [row.data for row in versions["coaching-transcripts"].rows.all()]
    assert [r["title"] for r in coaching] == ["Fractions"]
    turns = [(t["speaker"], t["role"]) for t in coaching[0]["turns"]]
    assert turns == [("speaker-1", "teacher"), ("speaker-2", "student")]
    assert "Rivera" not in json.dumps(coaching) and "Sam Lee" not in json.dumps(coaching)
    dialogues = [row.data for row in versions["reflection-dialogues"].rows.all()]
    assert dialogues[0]["final_question"] == "Why do leaves need light?"
    assert dialogues[0]["rounds"][0]["coaching"] == "Ask why."
    answers = [row.data for row in versions["reflection-answers"].rows.all()]
    assert [(r["question"], r["answer"], r["student"]) for r in answers] == [
        ("Why do leaves need light?", "To make sugar.", "student-1")
    ]
    assert versions["graded-answers"].dataset.kind == "graded_answers"
    assert school.student.username not in json.dumps(graded + answers)
