"""The grades of an assignment as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, Protocol

from django.utils.text import slugify

from grading.models import Assignment, Grade, Submission

GRADES_CSV_HEADER = (
    "student",
    "question",
    "answer",
    "label",
    "score",
    "max_points",
    "confidence",
    "feedback",
    "status",
    "model_label",
    "reviewer",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UNGRADED = "ungraded"


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def csv_cell(value: Any) -> str:
    """The text of a cell, with a leading apostrophe where a spreadsheet would read a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _row(submission: Submission) -> list[str]:
    question = submission.question
    grade: Grade | None = getattr(submission, "grade", None)
    cells: list[Any] = [submission.student.username, question.position, submission.answer_text]
    if grade is None:
        cells += ["", "", question.max_points, "", "", UNGRADED, "", ""]
    else:
        cells += [
            grade.label,
            grade.score,
            question.max_points,
            f"{grade.confidence:.3f}",
            grade.feedback,
            grade.status,
            grade.model_label,
            grade.reviewer.username if grade.reviewer else "",
        ]
    return [csv_cell(cell) for cell in cells]


def grades_csv_rows(*, assignment: Assignment) -> Iterator[list[str]]:
    """The header, then one row per current answer (ungraded answers too), by question and student."""
    yield list(GRADES_CSV_HEADER)
    submissions = (
        Submission.objects.filter(question__assignment=assignment, is_current=True)
        .select_related("student", "question", "grade__reviewer")
        .order_by("question__position", "question__pk", "student__username")
    )
    for submission in submissions.iterator(chunk_size=500):
        yield _row(submission)


def grades_csv_write(*, assignment: Assignment, stream: Writable) -> None:
    # The byte order mark makes Excel read the file as UTF-8; the importer accepts it too.
    stream.write("\ufeff")
    writer = csv.writer(stream, lineterminator="\r\n")
    for row in grades_csv_rows(assignment=assignment):
        writer.writerow(row)


def grades_csv_filename(*, assignment: Assignment) -> str:
    return f"grades-{slugify(assignment.title) or assignment.pk}.csv"
