"""Students' answers from a CSV file into an assignment: all rows or none.

The file has the header `student,question,answer`: the student's username, the question's number
(its position in the assignment) and the answer. Every row is checked before anything is stored,
and each problem is reported with its row number (the header is row 1) and column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import IO, Any

from django.db import transaction

from accounts.models import User
from accounts.permissions import course_is_taught_by, user_role
from core.errors import ApplicationError, FileImportError, PermissionDeniedError
from grading.models import Assignment, Question
from grading.services import MAX_ANSWER_CHARS, submission_create

ANSWERS_CSV_COLUMNS = ("student", "question", "answer")
MAX_IMPORT_BYTES = 5 * 1024 * 1024


class ImportProblems(FileImportError):
    """The file cannot be imported (see core.errors.FileImportError, which caps the list it reports)."""


@dataclass(frozen=True)
class AnswerRow:
    row_number: int
    student: User
    question: Question
    answer: str


def _text(data: bytes) -> str:
    if not data.strip():
        raise ImportProblems([f"The file is empty. Its first row must be: {','.join(ANSWERS_CSV_COLUMNS)}."])
    try:
        # utf-8-sig reads files with and without the byte order mark that Excel writes.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportProblems(
            ["The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8” and upload it again."]
        ) from error


def _refuse_nul(text: str) -> None:
    """A NUL character is no text a student wrote (PostgreSQL cannot even store it): refuse the file."""
    index = text.find("\x00")
    if index == -1:
        return
    line = text.count("\n", 0, index) + 1
    raise ImportProblems(
        [
            f"Line {line} contains a NUL character (\\0), which is not text; the file was probably not saved as "
            "CSV. Save it from your spreadsheet as “CSV UTF-8” and upload it again."
        ]
    )


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many languages save CSV with semicolons; the header says which one this is.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise ImportProblems([f"Row {reader.line_num}: the file is not valid CSV ({error})."]) from error
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    return header, rows[1:]


def _columns(header: list[str]) -> dict[str, int]:
    missing = [column for column in ANSWERS_CSV_COLUMNS if column not in header]
    if missing:
        quoted = [f"“{column}”" for column in missing]
        names = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        plural = "s" if len(missing) > 1 else ""
        raise ImportProblems(
            [f"The first row is missing the column{plural} {names}. It must be: {','.join(ANSWERS_CSV_COLUMNS)}."]
        )
    return {column: header.index(column) for column in ANSWERS_CSV_COLUMNS}


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def answers_csv_parse(*, assignment: Assignment, data: bytes, size: int | None = None) -> list[AnswerRow]:
    """Check every row of the file; raise ImportProblems naming each bad row and column.

    `size`: the whole upload's size, when only its first MAX_IMPORT_BYTES + 1 bytes were read.
    """
    size = max(size or 0, len(data))
    if size > MAX_IMPORT_BYTES:
        raise ImportProblems([f"The file is {_megabytes(size)}; the limit is {_megabytes(MAX_IMPORT_BYTES)}."])
    text = _text(data)
    _refuse_nul(text)
    header, rows = _rows(text)
    columns = _columns(header)
    numbered = [(number, row) for number, row in enumerate(rows, start=2) if any(cell.strip() for cell in row)]
    if not numbered:
        raise ImportProblems(["The file has a header but no answers."])

    course = assignment.course
    questions = {question.position: question for question in assignment.questions.all()}
    numbers = ", ".join(str(position) for position in sorted(questions))
    usernames = {_cell(row, columns["student"]).strip() for _, row in numbered}
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    enrolled = set(course.enrollments.filter(student__username__in=usernames).values_list("student_id", flat=True))

    problems: list[str] = []
    answers: list[AnswerRow] = []
    seen: dict[tuple[str, int], int] = {}
    for number, row in numbered:
        username = _cell(row, columns["student"]).strip()
        question_text = _cell(row, columns["question"]).strip()
        answer = _cell(row, columns["answer"]).strip()
        before = len(problems)

        user = users.get(username)
        if not username:
            problems.append(f"Row {number}, column “student”: the username is missing.")
        elif user is None:
            problems.append(f"Row {number}, column “student”: no user is called “{username}”.")
        elif user_role(user) != "student":
            problems.append(f"Row {number}, column “student”: “{username}” is not a student.")
        elif user.pk not in enrolled:
            problems.append(f"Row {number}, column “student”: “{username}” is not enrolled in {course.name}.")

        position = _number(question_text)
        question = questions.get(position) if position is not None else None
        if question is None:
            problems.append(
                f"Row {number}, column “question”: “{question_text}” is not a question number of this assignment "
                f"(its questions are {numbers or 'none yet'})."
            )

        if not answer:
            problems.append(f"Row {number}, column “answer”: the answer is empty.")
        elif len(answer) > MAX_ANSWER_CHARS:
            problems.append(
                f"Row {number}, column “answer”: the answer is {len(answer):,} characters long; "
                f"the limit is {MAX_ANSWER_CHARS:,}."
            )

        if len(problems) > before or user is None or question is None:
            continue
        key = (username, question.position)
        if key in seen:
            problems.append(
                f"Row {number}: “{username}” already has an answer to question {question.position} in row {seen[key]}."
            )
            continue
        seen[key] = number
        answers.append(AnswerRow(row_number=number, student=user, question=question, answer=answer))
    if problems:
        raise ImportProblems(problems)
    return answers


def answers_csv_import(*, assignment: Assignment, file: IO[bytes] | bytes, user: Any) -> int:
    """Store every answer of the file as the student's current answer; nothing when any row is wrong."""
    if not course_is_taught_by(course=assignment.course, user=user):
        raise PermissionDeniedError("Only the course's teachers and admins may import answers.")
    data = file if isinstance(file, bytes) else file.read(MAX_IMPORT_BYTES + 1)
    # An uploaded file knows its size; reading stopped just past the limit.
    rows = answers_csv_parse(assignment=assignment, data=data, size=getattr(file, "size", None))
    with transaction.atomic():
        for row in rows:
            try:
                submission_create(question=row.question, student=row.student, answer_text=row.answer)
            except ApplicationError as error:
                raise ImportProblems([f"Row {row.row_number}: {error.message}"]) from error
    return len(rows)
