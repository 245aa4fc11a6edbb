from __future__ import annotations

import csv
import io
import json

import pytest

from core.errors import ApplicationError
from datasets_admin.models import (
    ClassifierVersion,
    Comment,
    CommentCorrection,
    Dataset,
    DatasetRow,
    DatasetVersion,
    Lecture,
    LectureCourse,
    Passage,
)
from datasets_admin.parsers import UploadedFile
from datasets_admin.selectors import course_chart_data, dataset_csv_lines, dataset_jsonl_lines, lecture_passages
from datasets_admin.services import (
    comment_label_toggle,
    comments_reclassify,
    data_import,
    dataset_register,
    dataset_version_lock,
)
from datasets_admin.sight_demo import sight_demo_files, sight_demo_seed
from datasets_admin.static_embedding import DIMENSIONS, STATIC_EMBEDDING_NAME, static_embed

pytestmark = pytest.mark.django_db

VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:30.000\nWe start with vectors and their lengths.\n\n"
    "00:00:30.000 --> 00:01:10.000\nThe dot product tells the angle.\n\n"
    "00:01:10.000 --> 00:02:30.000\nNow the determinant of a two by two matrix is ad minus bc.\n"
)


def test_sight_demo_import_classifies_links_and_registers(sight_demo) -> None:
    assert (sight_demo.lectures, sight_demo.comments, sight_demo.refused) == (3, 93, [])
    course = LectureCourse.objects.get()
    assert (
        course.title
        == "MIT 18.065 Matrix Methods in Data Analysis, Signal Processing, and Machine Learning, Spring 2018"
    )
    assert Passage.objects.count() == 130
    version = ClassifierVersion.objects.get(is_active=True)
    comment = Comment.objects.get(external_id="8807")
    assert comment.provenance["classifier_version"] == version.version
    assert comment.provenance["embedding_model"] == "all-MiniLM-L6-v2"
    assert set(comment.scores) == {
        "general", "setup", "pedagogy", "confusion", "gratitude", "personal_experience",
        "clarification", "bookmark", "non_english", "na",
    }  # fmt: skip
    assert "confusion" in comment.categories  # "can someone explain ... why is that useful to us?"
    # Every confusion or clarification comment is linked to a passage of its own lecture, by meaning.
    confused = [
        c for c in Comment.objects.select_related("passage") if {"confusion", "clarification"} & set(c.categories)
    ]
    assert confused
    assert all(c.passage is not None and c.passage.lecture_id == c.lecture_id for c in confused)
    assert {c.link_method for c in confused} == {"similarity"}
    assert Comment.objects.filter(passage__isnull=False).count() == len(confused)
    # Passages are in the static table's space (linking compares them with comments there), comments in MiniLM's.
    assert {len(p.embedding) for p in Passage.objects.all()} == {DIMENSIONS * 4}
    assert len(comment.embedding) == 384 * 4
    assert comment.provenance["linking"] == "time-or-static-minilm-l6-v1-cosine-v2"
    slugs = sorted(Dataset.objects.values_list("slug", flat=True))
    assert slugs == ["comments-plul4u3cngp63omnuhxqiucrks2pivhn3k", "transcripts-plul4u3cngp63omnuhxqiucrks2pivhn3k"]
    assert DatasetVersion.objects.get(dataset__slug=slugs[0]).row_count == 93
    assert DatasetVersion.objects.get(dataset__slug=slugs[1]).row_count == 3
    # Seeding again changes nothing.
    assert sight_demo_seed() is None
    assert (Lecture.objects.count(), Comment.objects.count(), DatasetVersion.objects.count()) == (3, 93, 2)


def test_importing_the_same_comments_again_stores_nothing_new(sight_demo) -> None:
    report = data_import(files=[f for f in sight_demo_files() if f.name.endswith("comments.csv")])
    assert (report.comments, report.comments_unchanged, report.refused) == (0, 93, [])
    assert Comment.objects.count() == 93


def test_a_bad_file_among_good_ones_is_refused_alone_and_stores_nothing(db) -> None:
    files = [
        UploadedFile("vectors1.vtt", VTT.encode()),
        UploadedFile("latin1.txt", "Grüße, Köln".encode("cp1252")),
        UploadedFile("broken.vtt", b"WEBVTT\n\nno cue\n"),
        UploadedFile(
            "comments.csv",
            b"comment,video_id,comment_id\n"
            b'"I am confused at 1:20, why is it ad minus bc?",vectors1,1\n'
            b'"Thanks a lot!",vectors1,2\n'
            b'"=cmd|x",vectors1,3\n'
            b'"Where is this?",unknown-video,4\n',
        ),
        UploadedFile("bad.json", b"[1, 2"),
    ]
    report = data_import(files=files, course_code="linear-algebra")
    refused = sorted((r.file, r.row or 0, r.message[:40]) for r in report.refused)
    assert refused == [
        ("bad.json", 0, "The file is not valid JSON (line 1: Expecting"[:40]),
        ("broken.vtt", 0, "The file is not valid WebVTT: it has no cu"[:40]),
        ("comments.csv", 4, "the comment cell is a spreadsheet formula"[:40]),
        ("comments.csv", 5, "no lecture has video id 'unknown-video': "[:40]),
        ("latin1.txt", 0, "The file is not UTF-8 text (byte 3 cannot be read)"[:40]),
    ]
    assert {r.file for r in report.refused} == {"latin1.txt", "broken.vtt", "comments.csv", "bad.json"}
    assert list(Lecture.objects.values_list("video_id", "course__code", "is_timed")) == [
        ("vectors1", "linear-algebra", True)
    ]
    assert Comment.objects.count() == 2
    timed = Comment.objects.get(external_id="1")
    if "confusion" not in timed.categories:
        timed = comment_label_toggle(comment=timed, category="confusion", user=None)
    # The transcript is timed and the comment names 1:20: the passage holding that second, not a guess.
    assert (timed.link_method, timed.passage.position, timed.mentioned_seconds) == ("time", 1, 80.0)


def test_a_label_click_is_a_correction_kept_through_relabelling(sight_demo, school) -> None:
    comment = Comment.objects.get(external_id="8807")
    assert "confusion" in comment.categories
    comment = comment_label_toggle(comment=comment, category="confusion", user=school.admin)
    assert "confusion" not in comment.categories
    correction = CommentCorrection.objects.get()
    assert (correction.category, correction.is_present, correction.corrected_by) == ("confusion", False, school.admin)
    comments_reclassify(version=ClassifierVersion.objects.get(is_active=True))
    comment.refresh_from_db()
    assert "confusion" not in comment.categories
    comment = comment_label_toggle(comment=comment, category="confusion", user=school.admin)
    assert "confusion" in comment.categories
    assert CommentCorrection.objects.get().is_present is True
    with pytest.raises(ApplicationError, match="is not one of the categories"):
        comment_label_toggle(comment=comment, category="funny", user=school.admin)


def _register(rows: list[dict]) -> DatasetVersion:
    return dataset_register(
        slug="graded-answers",
        name="Graded answers",
        kind=Dataset.Kind.GRADED_ANSWERS,
        owner_app="grading",
        source="Tutorloop grading",
        license="The school's own data",
        rows=rows,
    )


def test_registry_versions_are_immutable_once_a_job_used_them(db) -> None:
    first = _register([{"answer": "a", "score": 1}])
    assert (first.number, first.row_count) == (1, 1)
    assert first.schema == [{"name": "answer", "type": "string"}, {"name": "score", "type": "integer"}]
    assert _register([{"answer": "a", "score": 1}]).pk == first.pk  # same rows: nothing changes
    same = _register([{"answer": "a", "score": 1}, {"answer": "b", "score": None}])
    assert (same.pk, same.number, same.row_count) == (first.pk, 1, 2)  # not used yet: updated in place
    assert same.schema[1] == {"name": "score", "type": "integer|null"}
    dataset_version_lock(version=same, job_id="job-1")
    second = _register([{"answer": "c", "score": 0.5}])
    assert second.number == 2
    first.refresh_from_db()
    assert (first.is_locked, first.locked_by_job, first.row_count) == (True, "job-1", 2)
    assert list(DatasetRow.objects.filter(version=first).values_list("data", flat=True)) == [
        {"answer": "a", "score": 1},
        {"answer": "b", "score": None},
    ]
    with pytest.raises(ApplicationError, match="not a data set slug"):
        dataset_register(slug="Bad Slug", name="x", kind="other", owner_app="x", source="x", license="x", rows=[])
    with pytest.raises(ApplicationError, match="Row 2 is not an object"):
        _register([{"a": 1}, ["not", "an", "object"]])  # type: ignore[list-item]
    assert DatasetVersion.objects.count() == 2


def test_exports_neutralise_formula_cells(db) -> None:
    version = _register([{"answer": '=HYPERLINK("http://x")', "score": 1, "tags": ["a"]}, {"answer": "+1", "score": 0}])
    lines = "".join(dataset_csv_lines(version=version))
    assert list(csv.reader(io.StringIO(lines))) == [
        ["answer", "score", "tags"],
        ['\'=HYPERLINK("http://x")', "1", '["a"]'],
        ["'+1", "0", ""],
    ]
    assert [json.loads(line) for line in dataset_jsonl_lines(version=version)] == [
        {"answer": '=HYPERLINK("http://x")', "score": 1, "tags": ["a"]},
        {"answer": "+1", "score": 0},
    ]


def test_course_chart_and_lecture_passages(sight_demo) -> None:
    course = LectureCourse.objects.get()
    data = course_chart_data(course=course)
    assert len(data["lectures"]) == 3
    assert [c["category"] for c in data["categories"]][:4] == ["general", "setup", "pedagogy", "confusion"]
    confusion = next(c for c in data["categories"] if c["category"] == "confusion")
    assert sum(confusion["counts"]) == sum(1 for c in Comment.objects.all() if "confusion" in c.categories)
    assert data["confusing"]["confused"] == sorted(data["confusing"]["confused"], reverse=True)
    lecture = Lecture.objects.get(video_id="Z_5uLqcwDgM")
    passages = lecture_passages(lecture=lecture)
    linked = sum(len(p["comments"]) for p in passages)
    assert linked == lecture.comments.filter(passage__isnull=False).count() > 0
    assert [p["passage"].position for p in passages] == list(range(len(passages)))


def test_a_newer_shipped_classifier_replaces_an_older_shipped_one_but_not_a_trained_one(sight_demo) -> None:
    from datasets_admin.services import classifier_active

    shipped = ClassifierVersion.objects.get(is_active=True)
    ClassifierVersion.objects.filter(pk=shipped.pk).update(version="comments-lr-old-shipped")
    comment = Comment.objects.get(external_id="8807")
    Comment.objects.filter(pk=comment.pk).update(categories=[], provenance={})
    upgraded = classifier_active()
    assert upgraded.version == shipped.version and upgraded.pk != shipped.pk
    comment.refresh_from_db()
    assert comment.provenance["classifier_version"] == shipped.version and "confusion" in comment.categories
    ClassifierVersion.objects.filter(pk=upgraded.pk).update(version="comments-lr-trained-here", job_id="job-7")
    assert classifier_active().version == "comments-lr-trained-here"


def test_the_static_table_puts_related_texts_closer_and_is_unit_length() -> None:
    vectors = static_embed(
        [
            "the eigenvalues of a matrix",
            "how do I find eigenvalues of this matrix A?",
            "thank you so much professor",
            "",
        ]
    )
    assert vectors.shape == (4, DIMENSIONS)
    assert [round(float(v @ v), 4) for v in vectors[:3]] == [1.0, 1.0, 1.0]
    assert not vectors[3].any()  # nothing to embed: zeros, never NaN
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_a_classifier_on_the_static_table_labels_and_says_so(db) -> None:
    from datasets_admin.services import (
        ANNOTATED_COMMENTS,
        annotated_comments_read,
        classifier_install,
        classifier_train,
    )

    artifact = classifier_train(
        annotated=annotated_comments_read(ANNOTATED_COMMENTS), use_corrections=False, embedding=STATIC_EMBEDDING_NAME
    )
    assert artifact["parameters"]["embedding"] == STATIC_EMBEDDING_NAME
    assert artifact["metrics"]["comments"] == 60  # measured on the held-out validation rows only
    classifier_install(artifact=artifact, job_id="test")  # a trained version, not the shipped file's
    report = data_import(
        files=[
            UploadedFile("eig.vtt", VTT.encode()),
            UploadedFile(
                "c.csv",
                b'comment,video_id,comment_id\n"Thank you professor, great lecture!",eig,1\n'
                b'"I do not understand why the determinant is ad minus bc?",eig,2\n',
            ),
        ]
    )
    assert (report.lectures, report.comments) == (1, 2)
    thanks, confused = Comment.objects.order_by("external_id")
    assert thanks.provenance["embedding_model"] == STATIC_EMBEDDING_NAME
    assert len(thanks.embedding) == DIMENSIONS * 4
    assert "gratitude" in thanks.categories
    assert "confusion" in confused.categories
    assert confused.passage is not None and "determinant" in confused.passage.text
