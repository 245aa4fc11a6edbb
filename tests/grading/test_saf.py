from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from grading.saf import CsvFormatError, SafFormatError, csv_read, saf_read

# Question, reference answer and student answers copied from SAF (Filighera et al., ACL 2022),
# https://github.com/SebOchs/SAF, file training/english/4.1_LM_v1.0.xml; MIT license.
QUESTION = (
    'What happens to the "collision domain diameter" if you use CSMA / CD and increase the speed of a '
    "network by a factor of 10, eg from 10Mb / s to 100Mb / s (all else being equal)?"
)
REFERENCE = "Diameter decreases by a factor of 10, e.g 300m to 30m."
CORRECT = "The collision domain diameter will decrease by factor 10."
PARTIAL = (
    "The collision domain diameter is the distance between two locations/nodes. When increasing the speed "
    "the maximum distance between two locations has to shrink."
)
INCORRECT = "the collision domain diameter will be increased."


def answer_xml(response: str, score: str, label: str, answer_id: str = "LM_4.1.1") -> str:
    return (
        f'<studentAnswer id="{answer_id}"><response>{response}</response>'
        f"<response_feedback>feedback</response_feedback><score>{score}</score>"
        f"<verification_feedback>{label}</verification_feedback></studentAnswer>"
    )


def saf_xml(answers: str, *, question: str = QUESTION, root_attributes: str = 'id="4.1" module="LM"') -> str:
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        f"<question {root_attributes}><questionText>{question}</questionText>"
        f'<referenceAnswers><referenceAnswer id="LM_4.1_a1">{REFERENCE}</referenceAnswer></referenceAnswers>'
        f"<studentAnswers>{answers}</studentAnswers></question>"
    )


GOOD_ANSWERS = (
    answer_xml(CORRECT, " 1", "Correct", "LM_4.1.1")
    + answer_xml(f"<p>{PARTIAL}</p>", "0.5", "Partially correct", "LM_4.1.2")
    + answer_xml(INCORRECT, "0", "Incorrect", "LM_4.1.3")
    + answer_xml("No submission.", "0", "Incorrect", "LM_4.1.4")
)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_saf_read_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "4.1_LM_v1.0.xml", saf_xml(GOOD_ANSWERS))

    examples = saf_read(path)

    assert [e.label for e in examples] == ["correct", "partially_correct", "incorrect", "incorrect"]
    assert [e.score for e in examples] == [1.0, 0.5, 0.0, 0.0]
    assert examples[0].question == QUESTION
    assert examples[0].reference_answers == [REFERENCE]
    assert examples[0].answer == CORRECT
    assert examples[1].answer == PARTIAL  # the <p> wrapper is dropped, its text kept
    assert {e.question_id for e in examples} == {"4.1_LM_v1.0"}


def test_saf_read_folder_sorted_and_ids_from_file_names(tmp_path: Path) -> None:
    # Both files say id="2.1", as two of SAF's files do: the file names keep them apart.
    write(tmp_path, "b.xml", saf_xml(answer_xml(CORRECT, "1", "Correct"), root_attributes='id="2.1"'))
    write(tmp_path, "a.xml", saf_xml(answer_xml(INCORRECT, "0", "Incorrect"), root_attributes='id="2.1"'))
    write(tmp_path, "notes.txt", "not read")

    examples = saf_read(tmp_path)

    assert [(e.question_id, e.label) for e in examples] == [("a", "incorrect"), ("b", "correct")]


def test_saf_points_are_normalised_by_the_best_score_seen(tmp_path: Path) -> None:
    answers = answer_xml(CORRECT, "4", "Correct") + answer_xml(PARTIAL, "2", "Partially correct")
    examples = saf_read(write(tmp_path, "q.xml", saf_xml(answers)))
    assert [e.score for e in examples] == [1.0, 0.5]


def test_saf_explicit_maximum_wins(tmp_path: Path) -> None:
    answers = answer_xml(PARTIAL, "2", "Partially correct")
    examples = saf_read(write(tmp_path, "q.xml", saf_xml(answers, root_attributes='id="1" max_score="8"')))
    assert examples[0].score == 0.25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not xml <", "{path}: not SAF: not well-formed XML (syntax error: line 1, column 0)"),
        ("<quiz/>", "{path}: not SAF: the root element is <quiz>, expected <question>"),
        (
            saf_xml(GOOD_ANSWERS).replace(f"<questionText>{QUESTION}</questionText>", ""),
            "{path}: not SAF: missing <questionText>",
        ),
        (
            saf_xml(GOOD_ANSWERS).replace(
                f'<referenceAnswers><referenceAnswer id="LM_4.1_a1">{REFERENCE}</referenceAnswer></referenceAnswers>',
                "",
            ),
            "{path}: not SAF: missing <referenceAnswers>",
        ),
        (
            saf_xml(GOOD_ANSWERS).replace(f'<referenceAnswer id="LM_4.1_a1">{REFERENCE}</referenceAnswer>', ""),
            "{path}: not SAF: <referenceAnswers> holds no <referenceAnswer> text",
        ),
        (
            saf_xml(answer_xml(CORRECT, "1", "Correct").replace(f"<response>{CORRECT}</response>", "")),
            "{path}: studentAnswer 1 (id LM_4.1.1): missing <response>",
        ),
        (
            saf_xml(answer_xml(CORRECT, "1", "Correct").replace("<score>1</score>", "")),
            "{path}: studentAnswer 1 (id LM_4.1.1): missing <score>",
        ),
        (
            saf_xml(answer_xml(CORRECT, "one", "Correct")),
            "{path}: studentAnswer 1 (id LM_4.1.1): <score> is not a number: 'one'",
        ),
        (
            saf_xml(
                answer_xml(CORRECT, "1", "Correct").replace(
                    "<verification_feedback>Correct</verification_feedback>", ""
                )
            ),
            "{path}: studentAnswer 1 (id LM_4.1.1): missing <verification_feedback> (the label)",
        ),
        (
            saf_xml(answer_xml(CORRECT, "1", "Great")),
            "{path}: studentAnswer 1 (id LM_4.1.1): unknown label in <verification_feedback>: 'Great' "
            "(expected Correct, Partially correct or Incorrect)",
        ),
        (saf_xml(""), "{path}: not SAF: no <studentAnswer> elements"),
        (
            '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa">]><question/>',
            "{path}: not SAF: a DOCTYPE or ENTITY declaration is not allowed",
        ),
    ],
)
def test_saf_format_errors_name_the_file_and_what_is_missing(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.xml", text)
    with pytest.raises(SafFormatError) as error:
        saf_read(path)
    assert str(error.value) == message.format(path=path)


def test_saf_error_in_a_folder_names_the_bad_file_and_returns_nothing(tmp_path: Path) -> None:
    write(tmp_path, "a.xml", saf_xml(GOOD_ANSWERS))
    bad = write(tmp_path, "b.xml", "<quiz/>")
    with pytest.raises(SafFormatError, match=f"^{bad}: not SAF: the root element is <quiz>"):
        saf_read(tmp_path)


def test_saf_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SafFormatError) as error:
        saf_read(tmp_path)
    assert str(error.value) == f"{tmp_path}: no .xml files in this folder"


def test_saf_format_error_is_a_value_error() -> None:
    assert issubclass(SafFormatError, ValueError)
    assert issubclass(CsvFormatError, ValueError)


HEADER = "question_id,question,reference_answer,answer,label,score\n"


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def test_csv_read_with_bom_and_several_references(tmp_path: Path) -> None:
    text = csv_text(
        [
            ["question_id", "question", "reference_answer", "answer", "label", "score"],
            ["q1", QUESTION, f"{REFERENCE} || Diameter shrinks tenfold", CORRECT, "Correct", "1"],
            ["q1", QUESTION, REFERENCE, PARTIAL + "\nsecond line", "partially_correct", "0.5"],
            ["q1", QUESTION, REFERENCE, "", "incorrect", "0"],
        ]
    )
    path = write(tmp_path, "answers.csv", "\ufeff" + text + "\n")

    examples = csv_read(path)

    assert len(examples) == 3
    assert examples[0].question == QUESTION
    assert examples[0].reference_answers == [REFERENCE, "Diameter shrinks tenfold"]
    assert (examples[0].label, examples[0].score, examples[0].question_id) == ("correct", 1.0, "q1")
    assert (examples[1].label, examples[1].score) == ("partially_correct", 0.5)
    assert examples[1].answer == PARTIAL + "\nsecond line"
    assert examples[2].answer == ""


def test_csv_rows_are_numbered_as_records_not_lines(tmp_path: Path) -> None:
    # A quoted answer over two lines is one row: the bad label is on row 3, line 4.
    text = HEADER + 'q1,Q?,R,"two\nlines",correct,1\nq1,Q?,R,A,nope,1\n'
    with pytest.raises(CsvFormatError, match=r"row 3, column label: unknown label 'nope'"):
        csv_read(write(tmp_path, "a.csv", text))


def test_csv_read_unlabelled(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", HEADER + "q1,Q?,R,an answer,,\n")
    assert [(e.label, e.score) for e in csv_read(path)] == [(None, None)]
    path = write(tmp_path, "b.csv", "question_id,question,reference_answer,answer\nq1,Q?,R,an answer\n")
    assert [(e.label, e.score, e.answer) for e in csv_read(path)] == [(None, None, "an answer")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"question_id,question,answer,label,score\nq1,Q?,A,correct,1\n",
            "{path}: row 1 (the header): missing column(s) reference_answer; "
            "expected question_id,question,reference_answer,answer,label,score,feedback",
        ),
        (
            b"",
            "{path}: empty file; expected the header question_id,question,reference_answer,answer,label,score,feedback",
        ),
        (
            HEADER.encode() + b"q1,Q?,R,good,correct,1\nq2,Q?,R,caf\xe9 au lait,correct,1\n",
            "{path}: row 3, column answer: not valid UTF-8",
        ),
        (
            HEADER.encode() + b"q1,Q?,R,A,correct,1\nq1,Q?,R,A,mostly right,1\n",
            "{path}: row 3, column label: unknown label 'mostly right' "
            "(expected one of correct, partially_correct, incorrect, or empty)",
        ),
        (HEADER.encode() + b"q1,Q?,R,A,correct,full\n", "{path}: row 2, column score: not a number: 'full'"),
        (
            HEADER.encode() + b"q1,Q?,R,A,correct,4\n",
            "{path}: row 2, column score: '4' is not a fraction between 0 and 1",
        ),
        (HEADER.encode() + b"q1,,R,A,correct,1\n", "{path}: row 2, column question: empty"),
        (HEADER.encode() + b"q1,Q?, || ,A,correct,1\n", "{path}: row 2, column reference_answer: empty"),
        (
            HEADER.encode() + b"q1,Q?,R,A\n",
            "{path}: row 2, column label: missing (the row has 4 fields, the header 6)",
        ),
        (HEADER.encode() + b"q1,Q?,R,A,correct,1,extra\n", "{path}: row 2: 7 fields, but the header has 6"),
    ],
)
def test_csv_errors_name_row_and_column(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, "answers.csv", content)
    with pytest.raises(CsvFormatError) as error:
        csv_read(path)
    assert str(error.value) == message.format(path=path)
