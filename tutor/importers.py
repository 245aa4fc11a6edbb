"""Problems from a file into a course's bank: every row or none.

Three layouts are read (`docs`: tutor/README.md):

- MathDial CSV (`qid,question,ground_truth,...`): the worked solution is `ground_truth`, the final
  answer is its last line, `teacher_described_confusion` gives the misconceptions; the rows of one
  `qid` (one per recorded dialogue) become one problem.
- Tutorloop CSV: `title,statement,worked_solution,final_answer[,misconceptions][,assigned]`, where
  `misconceptions` separates items with " | " and `title` may be left empty.
- Tutorloop JSON: a list of objects with the same keys (`misconceptions` a list of strings), or
  `{"problems": [...]}`.

Every row is checked before anything is stored, and each problem is reported with its row (the CSV
header is row 1) or item number and the field at fault.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import FileImportError
from core.parsing import JsonTooDeepError, json_loads_bounded
from tutor.policy.solution import final_answer_from_solution

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_REPORTED_PROBLEMS = 50
FORMATS = ("auto", "mathdial", "csv", "json")
MATHDIAL_COLUMNS = ("qid", "question", "ground_truth")
CSV_COLUMNS = ("statement", "worked_solution", "final_answer")
TITLE_MAX_CHARS = 200
FINAL_ANSWER_MAX_CHARS = 100


class ProblemImportError(FileImportError):
    """The file cannot be imported (see core.errors.FileImportError)."""


@dataclass
class ProblemRow:
    where: str  # "Row 3" or "Item 2": how messages name this row
    title: str
    statement: str
    worked_solution: str
    final_answer: str
    misconceptions: list[str] = field(default_factory=list)
    is_assigned: bool | None = None
    source: str = ""


def problem_title_from(statement: str) -> str:
    """A short title: the statement's first sentence, cut to 80 characters."""
    first_sentence = statement.split(". ")[0].strip().rstrip(".")
    return first_sentence if len(first_sentence) <= 80 else first_sentence[:77].rstrip() + "…"


def _text(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise ProblemImportError([f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it."])
    if not data.strip():
        raise ProblemImportError(["The file is empty."])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProblemImportError(["The file is not UTF-8 text. Save it as “CSV UTF-8” or UTF-8 JSON."]) from error


def _csv_records(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as error:
        raise ProblemImportError([f"Row {reader.line_num}: the file is not valid CSV ({error})."]) from error
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    cleaned = [
        {(key or "").strip().lower(): (value or "") if isinstance(value, str) else "" for key, value in row.items()}
        for row in records
    ]
    return header, cleaned


def _missing_columns(header: list[str], required: tuple[str, ...], layout: str) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        names = ", ".join(f"“{column}”" for column in missing)
        raise ProblemImportError(
            [f"Row 1 (the header): the {layout} layout needs the column{'s' if len(missing) > 1 else ''} {names}."]
        )


def _truthy(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "yes", "true", "y", "x", "assigned")


def _mathdial_rows(text: str) -> list[ProblemRow]:
    header, records = _csv_records(text)
    _missing_columns(header, MATHDIAL_COLUMNS, "MathDial")
    rows: dict[str, ProblemRow] = {}
    problems: list[str] = []
    for number, record in enumerate(records, start=2):
        qid = record.get("qid", "").strip()
        for column in MATHDIAL_COLUMNS:
            if not record.get(column, "").strip():
                problems.append(f"Row {number}: “{column}” is empty.")
        if not qid or not record.get("question", "").strip() or not record.get("ground_truth", "").strip():
            continue
        confusion = record.get("teacher_described_confusion", "").strip()
        if qid in rows:
            # One problem, several recorded dialogues: gather what teachers saw students confuse.
            if confusion and confusion not in rows[qid].misconceptions:
                rows[qid].misconceptions.append(confusion)
            continue
        final_answer = final_answer_from_solution(record["ground_truth"])
        if not final_answer:
            problems.append(f"Row {number}: “ground_truth” does not end with the final answer.")
            continue
        rows[qid] = ProblemRow(
            where=f"Row {number}",
            title=problem_title_from(record["question"].strip()),
            statement=record["question"].strip(),
            worked_solution=record["ground_truth"].strip(),
            final_answer=final_answer,
            misconceptions=[confusion] if confusion else [],
            source=f"MathDial qid {qid}",
        )
    if problems:
        raise ProblemImportError(problems)
    # Two statements may begin alike: keep titles unique by naming the qid.
    seen: dict[str, int] = {}
    for row in rows.values():
        seen[row.title] = seen.get(row.title, 0) + 1
    for row in rows.values():
        if seen[row.title] > 1:
            row.title = f"{row.title[:150]} ({row.source.removeprefix('MathDial ')})"
    return list(rows.values())


def _row_from_mapping(where: str, record: dict[str, Any], problems: list[str]) -> ProblemRow | None:
    values: dict[str, str] = {}
    for column in CSV_COLUMNS:
        value = record.get(column)
        if not isinstance(value, str | int | float) or not str(value).strip():
            problems.append(f"{where}: “{column}” is missing or empty.")
            continue
        values[column] = str(value).strip()
    raw_misconceptions = record.get("misconceptions") or []
    if isinstance(raw_misconceptions, str):
        misconceptions = [item.strip() for item in raw_misconceptions.split("|") if item.strip()]
    elif isinstance(raw_misconceptions, list) and all(isinstance(item, str) for item in raw_misconceptions):
        misconceptions = [item.strip() for item in raw_misconceptions if item.strip()]
    else:
        problems.append(f"{where}: “misconceptions” must be a list of strings.")
        misconceptions = []
    if len(values) < len(CSV_COLUMNS):
        return None
    title = str(record.get("title") or "").strip() or problem_title_from(values["statement"])
    if len(title) > TITLE_MAX_CHARS:
        problems.append(f"{where}: “title” is longer than {TITLE_MAX_CHARS} characters.")
    if len(values["final_answer"]) > FINAL_ANSWER_MAX_CHARS:
        problems.append(f"{where}: “final_answer” is longer than {FINAL_ANSWER_MAX_CHARS} characters.")
    return ProblemRow(
        where=where,
        title=title,
        statement=values["statement"],
        worked_solution=values["worked_solution"],
        final_answer=values["final_answer"],
        misconceptions=misconceptions,
        is_assigned=_truthy(record.get("assigned")),
        source=str(record.get("source") or "").strip()[:200],
    )


def _csv_rows(text: str) -> list[ProblemRow]:
    header, records = _csv_records(text)
    _missing_columns(header, CSV_COLUMNS, "Tutorloop CSV")
    problems: list[str] = []
    rows = [_row_from_mapping(f"Row {number}", record, problems) for number, record in enumerate(records, start=2)]
    if problems:
        raise ProblemImportError(problems)
    return [row for row in rows if row is not None]


def _json_rows(text: str) -> list[ProblemRow]:
    try:
        data = json_loads_bounded(text)
    except JsonTooDeepError as error:
        raise ProblemImportError([str(error)]) from error
    except json.JSONDecodeError as error:
        raise ProblemImportError([f"Line {error.lineno}: the file is not valid JSON ({error.msg})."]) from error
    if isinstance(data, dict):
        data = data.get("problems")
    if not isinstance(data, list):
        raise ProblemImportError(["The JSON must be a list of problems, or an object with a “problems” list."])
    problems: list[str] = []
    rows: list[ProblemRow | None] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            problems.append(f"Item {number}: each problem must be an object with “statement”, “worked_solution”…")
            continue
        rows.append(_row_from_mapping(f"Item {number}", item, problems))
    if problems:
        raise ProblemImportError(problems)
    return [row for row in rows if row is not None]


def problem_rows_parse(*, data: bytes, filename: str = "", file_format: str = "auto") -> list[ProblemRow]:
    """Read and check every row of a problem file; raise ProblemImportError naming each bad row and field."""
    if file_format not in FORMATS:
        raise ProblemImportError([f"Unknown format “{file_format}”: choose one of {', '.join(FORMATS)}."])
    text = _text(data)
    if file_format == "auto":
        if filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
            file_format = "json"
        else:
            first_line = text.split("\n", 1)[0].lower()
            file_format = "mathdial" if "ground_truth" in first_line else "csv"
    if file_format == "json":
        rows = _json_rows(text)
    elif file_format == "mathdial":
        rows = _mathdial_rows(text)
    else:
        rows = _csv_rows(text)
    if not rows:
        raise ProblemImportError(["The file has a header but no problems."])
    titles: dict[str, str] = {}
    problems = []
    for row in rows:
        if row.title in titles:
            problems.append(f"{row.where}: “title” repeats {titles[row.title]} (“{row.title}”).")
        titles.setdefault(row.title, row.where.lower())
    if problems:
        raise ProblemImportError(problems)
    return rows
