"""Readers for graded short answers: the SAF XML layout and a plain CSV layout.

SAF (Filighera et al., ACL 2022; https://github.com/SebOchs/SAF, MIT) stores one question per file::

    <question id="2.1" module="DLL">
      <questionText>...</questionText>
      <referenceAnswers><referenceAnswer id="...">...</referenceAnswer></referenceAnswers>
      <studentAnswers>
        <studentAnswer id="...">
          <response>...</response> <response_feedback>...</response_feedback>
          <score>0.75</score> <verification_feedback>Partially correct</verification_feedback>
        </studentAnswer> ...

The CSV layout (UTF-8, with or without a byte-order mark) has the header
``question_id,question,reference_answer,answer,label,score``; several reference answers are
separated by `` || ``; ``label`` and ``score`` may be left empty (or left out) for unlabelled answers.
``score`` is the fraction of the question's maximum points, between 0 and 1. Rows are numbered as
in a spreadsheet: the header is row 1.

Both readers return everything or raise; nothing is returned partially.
"""

from __future__ import annotations

import csv
import io
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from grading.grader_model import LABELS, GradingExample

__all__ = ["CSV_COLUMNS", "CsvFormatError", "SafFormatError", "csv_read", "normalise_label", "saf_read"]

CSV_COLUMNS = ("question_id", "question", "reference_answer", "answer", "label", "score", "feedback")
_CSV_REQUIRED = ("question_id", "question", "reference_answer", "answer")
REFERENCE_SEPARATOR = " || "

# Attributes of <question> that, when present, give the maximum points explicitly. SAF itself has
# none: its scores are already fractions (every file's best answer scores 1).
_MAX_ATTRIBUTES = ("max_score", "maxScore", "max_points", "maxPoints", "points")

_LABEL_ALIASES = {
    "correct": "correct",
    "partially correct": "partially_correct",
    "partially_correct": "partially_correct",
    "partially-correct": "partially_correct",
    "partial": "partially_correct",
    "incorrect": "incorrect",
    "wrong": "incorrect",
}


class SafFormatError(ValueError):
    """A file is not in the SAF XML layout; the message names the file and what is missing."""


class CsvFormatError(ValueError):
    """A CSV file does not follow the documented layout; the message names the row and column."""


def normalise_label(raw: str) -> str | None:
    """Map a label as written by people ("Partially correct") to one of LABELS; None if unknown."""
    key = " ".join(raw.strip().lower().split())
    label = _LABEL_ALIASES.get(key)
    assert label is None or label in LABELS
    return label


def saf_read(path: Path) -> list[GradingExample]:
    """Read one SAF XML file, or every ``*.xml`` file of a folder (sorted by name).

    ``question_id`` is the file's stem: SAF's own ids repeat across files (two LM files both say
    "2.1"), the file names do not.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
        if not files:
            raise SafFormatError(f"{path}: no .xml files in this folder")
        examples: list[GradingExample] = []
        for file in files:
            examples.extend(_saf_read_file(file))
        return examples
    if not path.is_file():
        raise SafFormatError(f"{path}: no such file or folder")
    return _saf_read_file(path)


def _text(element: ET.Element) -> str:
    # itertext, not .text: some responses wrap their text in HTML such as <p>...</p>.
    return "".join(element.itertext()).strip()


def _saf_read_file(path: Path) -> list[GradingExample]:
    data = path.read_bytes()
    # SAF files carry no DTD; refusing one keeps entity-expansion tricks out of the XML parser.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SafFormatError(f"{path}: not SAF: a DOCTYPE or ENTITY declaration is not allowed")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs are refused above
    except ET.ParseError as error:
        raise SafFormatError(f"{path}: not SAF: not well-formed XML ({error})") from error
    if root.tag != "question":
        raise SafFormatError(f"{path}: not SAF: the root element is <{root.tag}>, expected <question>")
    question_element = root.find("questionText")
    if question_element is None or not _text(question_element):
        raise SafFormatError(f"{path}: not SAF: missing <questionText>")
    references_element = root.find("referenceAnswers")
    if references_element is None:
        raise SafFormatError(f"{path}: not SAF: missing <referenceAnswers>")
    references = [_text(ref) for ref in references_element.iter("referenceAnswer") if _text(ref)]
    if not references:
        raise SafFormatError(f"{path}: not SAF: <referenceAnswers> holds no <referenceAnswer> text")
    explicit_max = _explicit_max(path, root)

    question = _text(question_element)
    rows: list[tuple[str, str, float, str]] = []
    for number, element in enumerate(root.iter("studentAnswer"), start=1):
        where = f"{path}: studentAnswer {number}" + (f" (id {element.get('id')})" if element.get("id") else "")
        response = element.find("response")
        if response is None:
            raise SafFormatError(f"{where}: missing <response>")
        score_element = element.find("score")
        if score_element is None or not _text(score_element):
            raise SafFormatError(f"{where}: missing <score>")
        try:
            score = float(_text(score_element))
        except ValueError:
            raise SafFormatError(f"{where}: <score> is not a number: {_text(score_element)!r}") from None
        if not math.isfinite(score) or score < 0:
            raise SafFormatError(f"{where}: <score> must be a finite number >= 0, got {_text(score_element)!r}")
        label_element = element.find("verification_feedback")
        if label_element is None or not _text(label_element):
            raise SafFormatError(f"{where}: missing <verification_feedback> (the label)")
        label = normalise_label(_text(label_element))
        if label is None:
            raise SafFormatError(
                f"{where}: unknown label in <verification_feedback>: {_text(label_element)!r} "
                "(expected Correct, Partially correct or Incorrect)"
            )
        feedback_element = element.find("response_feedback")
        feedback = _text(feedback_element) if feedback_element is not None else ""
        rows.append((_text(response), label, score, feedback))
    if not rows:
        raise SafFormatError(f"{path}: not SAF: no <studentAnswer> elements")

    # Scores are fractions already when none exceeds 1 (all of SAF); otherwise they are points, and
    # the best score seen stands for the maximum.
    top = max(score for _, _, score, _ in rows)
    maximum = explicit_max if explicit_max is not None else (1.0 if top <= 1.0 else top)
    if top > maximum:
        raise SafFormatError(f"{path}: a <score> of {top:g} exceeds the question's maximum of {maximum:g}")
    return [
        GradingExample(
            question=question,
            reference_answers=list(references),
            answer=answer,
            label=label,
            score=score / maximum,
            question_id=path.stem,
            feedback=feedback,
        )
        for answer, label, score, feedback in rows
    ]


def _explicit_max(path: Path, root: ET.Element) -> float | None:
    for name in _MAX_ATTRIBUTES:
        raw = root.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise SafFormatError(f"{path}: attribute {name}={raw!r} of <question> is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise SafFormatError(f"{path}: attribute {name}={raw!r} of <question> must be > 0")
        return value
    return None


_SURROGATE = re.compile("[\udc80-\udcff]")


def csv_read(path: Path) -> list[GradingExample]:
    """Read the CSV layout described in this module's docstring."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CsvFormatError(f"{path}: cannot be read ({error.strerror})") from error
    # surrogateescape keeps undecodable bytes as markers, so the error can name their row and column.
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as error:
        raise CsvFormatError(f"{path}: not valid CSV ({error})") from error
    if not records or not any(cell.strip() for cell in records[0]):
        raise CsvFormatError(f"{path}: empty file; expected the header {','.join(CSV_COLUMNS)}")
    header = [_SURROGATE.sub("?", cell).strip().lower() for cell in records[0]]
    if any(_SURROGATE.search(cell) for cell in records[0]):
        raise CsvFormatError(f"{path}: row 1 (the header): not valid UTF-8")
    missing = [column for column in _CSV_REQUIRED if column not in header]
    if missing:
        raise CsvFormatError(
            f"{path}: row 1 (the header): missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}"
        )
    index = {column: header.index(column) for column in CSV_COLUMNS if column in header}

    examples: list[GradingExample] = []
    for row_number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines, e.g. a trailing newline, are not rows
        where = f"{path}: row {row_number}"
        for column, position in index.items():
            if position < len(record) and _SURROGATE.search(record[position]):
                raise CsvFormatError(f"{where}, column {column}: not valid UTF-8")
        if len(record) > len(header):
            raise CsvFormatError(f"{where}: {len(record)} fields, but the header has {len(header)}")
        if len(record) < len(header):
            raise CsvFormatError(
                f"{where}, column {header[len(record)]}: missing (the row has {len(record)} fields, "
                f"the header {len(header)})"
            )

        def cell(column: str, record: list[str] = record) -> str:
            return record[index[column]].strip() if column in index else ""

        question = cell("question")
        if not question:
            raise CsvFormatError(f"{where}, column question: empty")
        references = [part.strip() for part in cell("reference_answer").split(REFERENCE_SEPARATOR.strip())]
        references = [part for part in references if part]
        if not references:
            raise CsvFormatError(f"{where}, column reference_answer: empty")
        label: str | None = None
        if cell("label"):
            label = normalise_label(cell("label"))
            if label is None:
                raise CsvFormatError(
                    f"{where}, column label: unknown label {cell('label')!r} "
                    f"(expected one of {', '.join(LABELS)}, or empty)"
                )
        score: float | None = None
        if cell("score"):
            try:
                score = float(cell("score"))
            except ValueError:
                raise CsvFormatError(f"{where}, column score: not a number: {cell('score')!r}") from None
            if not math.isfinite(score) or not 0.0 <= score <= 1.0:
                raise CsvFormatError(f"{where}, column score: {cell('score')!r} is not a fraction between 0 and 1")
        examples.append(
            GradingExample(
                question=question,
                reference_answers=references,
                answer=cell("answer"),
                label=label,
                score=score,
                question_id=cell("question_id"),
                feedback=cell("feedback"),
            )
        )
    return examples
