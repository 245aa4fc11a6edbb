"""Issue 16, item 4 (the parts outside the tutor): bad input gets a clear message, never a 500, and
changes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from coaching.parsing import TranscriptFileError, transcript_parse
from core.errors import FileImportError
from core.parsing import JsonTooDeepError, json_loads_bounded
from datasets_admin.parsers import FileRefused, comments_parse, metadata_parse
from grading.importers import MAX_IMPORT_BYTES, ImportProblems, answers_csv_import
from grading.models import Submission
from tests.conftest import School, client_for
from tests.grading.test_views import make_assignment
from tutor.importers import ProblemImportError, problem_rows_parse

pytestmark = pytest.mark.django_db


def test_json_nested_5000_deep_is_a_clear_error_not_a_recursion_error() -> None:
    text = "[" * 5000 + "]" * 5000
    with pytest.raises(RecursionError):
        json.loads(text)  # what a plain parser does with it
    with pytest.raises(JsonTooDeepError) as raised:
        json_loads_bounded(text)
    assert str(raised.value).startswith("Line 1: the JSON is nested more than 64 levels deep")


def test_bounded_json_reads_ordinary_files_and_brackets_inside_strings() -> None:
    data = {"problems": [{"statement": "[[[[" * 100, "answer": "{" * 200}]}
    assert json_loads_bounded(json.dumps(data)) == data
    assert json_loads_bounded('{"a": "\\"[[["}') == {"a": '"[[['}


def test_nul_bytes_in_a_csv_cell_are_refused_with_a_message_and_nothing_is_stored(school: School) -> None:
    assignment = make_assignment(school.course)
    data = f"student,question,answer\n{school.student.username},1,Acknowledge\x00ments\n".encode()
    with pytest.raises(ImportProblems) as raised:
        answers_csv_import(assignment=assignment, file=data, user=school.teacher)
    assert raised.value.problems == [
        "Line 2 contains a NUL character (\\0), which is not text; the file was probably not saved as CSV. "
        "Save it from your spreadsheet as “CSV UTF-8” and upload it again."
    ]
    assert not Submission.objects.filter(question__assignment=assignment).exists()


def test_the_upload_size_message_states_the_real_size_and_the_real_limit(school: School) -> None:
    assignment = make_assignment(school.course)
    upload = SimpleUploadedFile("answers.csv", b"x" * (50 * 1024 * 1024), content_type="text/csv")
    response = client_for(school.teacher).post(
        reverse("grading:assignment_import", args=[assignment.pk]), {"file": upload}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert f"The file is 50.0 MB; the limit is {MAX_IMPORT_BYTES / 1024 / 1024:.1f} MB." in page
    assert "The file is 5.0 MB" not in page


def test_sixty_thousand_bad_rows_are_capped_with_and_n_more(school: School) -> None:
    assignment = make_assignment(school.course)
    rows = "".join(f"nobody{n},1,An answer\n" for n in range(60_000))
    upload = SimpleUploadedFile("answers.csv", f"student,question,answer\n{rows}".encode(), content_type="text/csv")
    response = client_for(school.teacher).post(
        reverse("grading:assignment_import", args=[assignment.pk]), {"file": upload}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count("no user is called") == FileImportError.max_reported
    assert "60,000 problems to fix in the file" in page
    assert f"… and {60_000 - FileImportError.max_reported:,} more" in page
    assert len(response.content) < 100_000
    assert not Submission.objects.filter(question__assignment=assignment).exists()


DEEP_JSON = ("[" * 5000 + "]" * 5000).encode()


def test_a_problem_file_nested_5000_deep_is_refused_with_the_depth_message() -> None:
    with pytest.raises(ProblemImportError) as raised:
        problem_rows_parse(data=DEEP_JSON, filename="problems.json")
    assert raised.value.problems[0].startswith("Line 1: the JSON is nested more than 64 levels deep")


def test_comments_and_lecture_metadata_nested_5000_deep_are_refused_with_the_depth_message() -> None:
    for parse in (lambda: comments_parse("comments.json", DEEP_JSON), lambda: metadata_parse("meta.json", DEEP_JSON)):
        with pytest.raises(FileRefused) as raised:
            parse()
        assert str(raised.value).startswith("Line 1: the JSON is nested more than 64 levels deep")


def test_a_coaching_transcript_nested_5000_deep_is_refused_with_the_depth_message() -> None:
    with pytest.raises(TranscriptFileError) as raised:
        transcript_parse(DEEP_JSON, filename="lesson.json")
    assert "the JSON is nested more than 64 levels deep" in str(raised.value)
