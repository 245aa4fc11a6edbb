"""Reads of the data sets app: courses and lectures with their comments, the classifier's standing,
the registry. Every page and API view of the app reads through these (admins only)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, QuerySet

from core.errors import NotFoundError
from core.models import Job
from datasets_admin.classifier import TRUSTED_KAPPA
from datasets_admin.models import (
    CATEGORIES,
    CATEGORY_LABELS,
    CONFUSED_CATEGORIES,
    ClassifierVersion,
    Comment,
    Dataset,
    DatasetRow,
    DatasetVersion,
    Lecture,
    LectureCourse,
)
from grading.exports import csv_cell  # the project's one spreadsheet-formula rule (CSV injection)


def course_list() -> QuerySet[LectureCourse]:
    return LectureCourse.objects.annotate(
        lecture_count=Count("lectures", distinct=True),
        comment_count=Count("lectures__comments", distinct=True),
    ).order_by("title")


def course_get(*, code: str) -> LectureCourse:
    course = course_list().filter(code=code).first()
    if course is None:
        raise NotFoundError("No such course.")
    return course


def lecture_get(*, lecture_id: Any) -> Lecture:
    try:
        return Lecture.objects.select_related("course").get(pk=int(lecture_id))
    except (Lecture.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such lecture.") from error


def comment_get(*, comment_id: Any) -> Comment:
    try:
        return Comment.objects.select_related("lecture", "passage").get(pk=int(comment_id))
    except (Comment.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such comment.") from error


def category_trust() -> dict[str, dict[str, Any]]:
    """Per category: its label, its held-out kappa, and whether it is trusted (kappa >= TRUSTED_KAPPA)."""
    version = ClassifierVersion.objects.filter(is_active=True).first()
    metrics = (version.metrics if version else {}).get("categories", {})
    trust = {}
    for category in CATEGORIES:
        kappa = metrics.get(category, {}).get("kappa")
        trust[category] = {
            "category": category,
            "label": CATEGORY_LABELS[category],
            "kappa": kappa,
            "is_trusted": kappa is not None and kappa >= TRUSTED_KAPPA,
        }
    return trust


def classifier_summary() -> dict[str, Any]:
    version = ClassifierVersion.objects.filter(is_active=True).first()
    counts = _category_counts(Comment.objects.all())
    trust = category_trust()
    return {
        "version": version,
        "macro_kappa": (version.metrics or {}).get("macro_kappa") if version else None,
        "heldout_comments": (version.metrics or {}).get("comments") if version else None,
        "left_out": (version.metrics or {}).get("left_out", []) if version else [],
        "rows": [{**trust[c], "count": counts.get(c, 0)} for c in CATEGORIES],
        "trusted_kappa": TRUSTED_KAPPA,
    }


def _category_counts(comments: QuerySet[Comment]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for categories in comments.values_list("categories", flat=True):
        for category in categories or []:
            counts[category] += 1
    return counts


def course_lectures(*, course: LectureCourse) -> list[dict[str, Any]]:
    """Each lecture with its comment count, confused count and counts per category, most confusing first."""
    lectures = list(course.lectures.annotate(comment_count=Count("comments")).order_by("title"))
    per_lecture: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for lecture_id, categories in Comment.objects.filter(lecture__course=course).values_list(
        "lecture_id", "categories"
    ):
        for category in categories or []:
            per_lecture[lecture_id][category] += 1
        if set(categories or []) & set(CONFUSED_CATEGORIES):
            per_lecture[lecture_id]["__confused__"] += 1
    rows = []
    for lecture in lectures:
        counts = per_lecture[lecture.pk]
        confused = counts.get("__confused__", 0)
        rows.append(
            {
                "lecture": lecture,
                "comment_count": lecture.comment_count,
                "confused": confused,
                "confused_share": round(confused / lecture.comment_count, 3) if lecture.comment_count else 0.0,
                "counts": {c: counts.get(c, 0) for c in CATEGORIES},
            }
        )
    return rows


def course_chart_data(*, course: LectureCourse) -> dict[str, Any]:
    rows = course_lectures(course=course)
    trust = category_trust()
    ranked = sorted(rows, key=lambda r: (-r["confused"], -r["confused_share"], r["lecture"].title))[:10]
    return {
        "lectures": [r["lecture"].title for r in rows],
        "categories": [
            {
                "category": c,
                "label": CATEGORY_LABELS[c],
                "is_trusted": trust[c]["is_trusted"],
                "counts": [r["counts"][c] for r in rows],
            }
            for c in CATEGORIES
        ],
        "confusing": {
            "lectures": [r["lecture"].title for r in ranked],
            "confused": [r["confused"] for r in ranked],
            "share": [r["confused_share"] for r in ranked],
        },
    }


def lecture_passages(*, lecture: Lecture) -> list[dict[str, Any]]:
    """The transcript's passages, each with the confused comments linked to it."""
    linked: dict[int, list[Comment]] = defaultdict(list)
    for comment in lecture.comments.filter(passage__isnull=False).order_by("pk"):
        if comment.passage_id is not None:
            linked[comment.passage_id].append(comment)
    passages = []
    count = lecture.passages.count()
    for passage in lecture.passages.order_by("position").defer("embedding"):
        comments = linked.get(passage.pk, [])
        passages.append(
            {
                "passage": passage,
                "comments": comments,
                "is_confused": bool(comments),
                "percent": round(100 * passage.position / max(count, 1)),
            }
        )
    return passages


def lecture_comments(*, lecture: Lecture, category: str = "") -> QuerySet[Comment]:
    comments = lecture.comments.select_related("passage").order_by("pk")
    if category:
        comments = comments.filter(categories__icontains=f'"{category}"')
    return comments


def comment_list(*, category: str = "", course_code: str = "") -> QuerySet[Comment]:
    comments = Comment.objects.select_related("lecture", "lecture__course").order_by("-pk")
    if category:
        comments = comments.filter(categories__icontains=f'"{category}"')
    if course_code:
        comments = comments.filter(lecture__course__code=course_code)
    return comments


def upload_job_get(*, job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=job_id, kind="datasets_admin.upload")
    except (Job.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such upload.") from error


def upload_jobs_recent(*, limit: int = 10) -> QuerySet[Job]:
    return Job.objects.filter(kind="datasets_admin.upload").select_related("created_by").order_by("-created_at")[:limit]


# --- The registry --------------------------------------------------------------------------------


def dataset_list() -> QuerySet[Dataset]:
    return (
        Dataset.objects.annotate(version_count=Count("versions")).prefetch_related("versions").order_by("kind", "name")
    )


def dataset_get(*, slug: str) -> Dataset:
    dataset = dataset_list().filter(slug=slug).first()
    if dataset is None:
        raise NotFoundError("No such data set.")
    return dataset


def dataset_version_get(*, slug: str, number: Any = None) -> DatasetVersion:
    versions = DatasetVersion.objects.select_related("dataset").filter(dataset__slug=slug)
    try:
        version = versions.get(number=int(number)) if number not in (None, "") else versions.order_by("-number").first()
    except (DatasetVersion.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such version of this data set.") from error
    if version is None:
        raise NotFoundError("No such data set.")
    return version


def dataset_rows(*, version: DatasetVersion) -> Iterator[dict[str, Any]]:
    rows = DatasetRow.objects.filter(version=version).order_by("position").values_list("data", flat=True)
    yield from rows.iterator(2000)


def dataset_jsonl_lines(*, version: DatasetVersion) -> Iterator[str]:
    for row in dataset_rows(version=version):
        yield json.dumps(row, ensure_ascii=False) + "\n"


def dataset_csv_lines(*, version: DatasetVersion) -> Iterator[str]:
    """CSV with the schema's columns; lists and objects as JSON; formula cells neutralised."""
    columns = [column["name"] for column in version.schema]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow([csv_cell(column) for column in columns])
    yield flush()
    for row in dataset_rows(version=version):
        cells = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, list | dict):
                value = json.dumps(value, ensure_ascii=False)
            cells.append(csv_cell(value))
        writer.writerow(cells)
        yield flush()


def dataset_version_locked_by_job(*, version: DatasetVersion) -> bool:
    return version.is_locked


def lecture_count_for_videos(*, video_ids: list[str]) -> int:
    return Lecture.objects.filter(video_id__in=video_ids).count()
