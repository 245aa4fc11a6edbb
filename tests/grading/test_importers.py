"""CSV in (students' answers) and out (grades): exact messages, atomic imports, formula-safe exports."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import PermissionDeniedError
from grading.exports import csv_cell, grades_csv_rows
from grading.importers import ImportProblems, answers_csv_import
from grading.models import Grade, Submission
from tests.accounts.factories import TeacherFactory
from tests.conftest import School, client_for
from tests.grading.test_views import answer, make_assignment, make_grade, questions_of

pytestmark = pytest.mark.django_db


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def import_problems(assignment, user, data: bytes) -> list[str]:
    with pytest.raises(ImportProblems) as caught:
        answers_csv_import(assignment=assignment, file=data, user=user)
    return caught.value.problems


# --- Import -------------------------------------------------------------------------------------------------


def test_import_stores_every_row_as_the_current_answer(school: School) -> None:
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    answer(q1, school.student, "An earlier answer")
    data = (
        "student,question,answer\r\n"
        f'{school.student.username},1,"Frames, with an acknowledgement field"\r\n'
        f'{school.student.username},2,"Line one\nline two"\r\n'
    )

    count = answers_csv_import(assignment=assignment, file=csv_bytes(data), user=school.teacher)

    assert count == 2
    current = {s.question_id: s.answer_text for s in Submission.objects.filter(student=school.student, is_current=True)}
    assert current == {q1.pk: "Frames, with an acknowledgement field", q2.pk: "Line one\nline two"}
    assert Submission.objects.filter(student=school.student, question=q1, is_current=False).count() == 1


def test_import_reads_a_byte_order_mark_semicolons_and_any_header_case(school: School) -> None:
    assignment = make_assignment(school.course)
    data = f"\ufeffStudent;Question;Answer\n{school.student.username};3;Réponse complète\n"
    assert answers_csv_import(assignment=assignment, file=csv_bytes(data), user=school.teacher) == 1
    assert Submission.objects.get().answer_text == "Réponse complète"


def test_formulas_are_stored_as_plain_text(school: School) -> None:
    assignment = make_assignment(school.course)
    data = f'student,question,answer\n{school.student.username},1,"=HYPERLINK(""http://evil.example"")"\n'
    answers_csv_import(assignment=assignment, file=csv_bytes(data), user=school.teacher)
    assert Submission.objects.get().answer_text == '=HYPERLINK("http://evil.example")'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty. Its first row must be: student,question,answer."),
        (
            "student,question,answer\nada,1,caf\xe9\n".encode("latin-1"),
            "The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8” and upload it again.",
        ),
        (
            b"student,answer\nada,yes\n",
            "The first row is missing the column “question”. It must be: student,question,answer.",
        ),
        (
            b"name,text\nada,yes\n",
            "The first row is missing the columns “student”, “question” and “answer”. "
            "It must be: student,question,answer.",
        ),
        (b"student,question,answer\n\n", "The file has a header but no answers."),
    ],
)
def test_unreadable_files_are_refused_with_a_message(school: School, data: bytes, message: str) -> None:
    assignment = make_assignment(school.course)
    assert import_problems(assignment, school.teacher, data) == [message]
    assert Submission.objects.count() == 0


def test_each_bad_row_is_named_with_its_column_and_nothing_is_imported(school: School) -> None:
    assignment = make_assignment(school.course)
    student = school.student.username
    data = "\n".join(
        [
            "student,question,answer",
            f"{student},1,A good answer",  # row 2 is fine, and is not imported either
            "nobody,1,An answer",
            f"{school.other_student.username},1,An answer",
            f"{school.teacher.username},1,An answer",
            f"{student},7,An answer",
            f"{student},two,An answer",
            f"{student},2,   ",
            f"{student},3,{'x' * 10_001}",
            f"{student},1,Twice",
            ",1,No name",
        ]
    )

    problems = import_problems(assignment, school.teacher, csv_bytes(data))

    assert problems == [
        "Row 3, column “student”: no user is called “nobody”.",
        f"Row 4, column “student”: “{school.other_student.username}” is not enrolled in {school.course.name}.",
        f"Row 5, column “student”: “{school.teacher.username}” is not a student.",
        "Row 6, column “question”: “7” is not a question number of this assignment (its questions are 1, 2, 3).",
        "Row 7, column “question”: “two” is not a question number of this assignment (its questions are 1, 2, 3).",
        "Row 8, column “answer”: the answer is empty.",
        "Row 9, column “answer”: the answer is 10,001 characters long; the limit is 10,000.",
        f"Row 10: “{student}” already has an answer to question 1 in row 2.",
        "Row 11, column “student”: the username is missing.",
    ]
    assert Submission.objects.count() == 0


def test_a_single_problem_is_the_message_and_more_are_counted(school: School) -> None:
    assignment = make_assignment(school.course)
    with pytest.raises(ImportProblems) as one:
        answers_csv_import(assignment=assignment, file=b"student,question,answer\nnobody,1,x\n", user=school.teacher)
    assert one.value.message == "Row 2, column “student”: no user is called “nobody”."
    with pytest.raises(ImportProblems) as three:
        answers_csv_import(assignment=assignment, file=b"student,question,answer\nnobody,9,\n", user=school.teacher)
    assert three.value.message == "Row 2, column “student”: no user is called “nobody”. (and 2 more problems)"


def test_only_the_courses_teachers_import(school: School) -> None:
    assignment = make_assignment(school.course)
    data = f"student,question,answer\n{school.student.username},1,Mine\n".encode()
    for user in (school.other_teacher, school.student, TeacherFactory()):
        with pytest.raises(PermissionDeniedError, match=r"Only the course's teachers and admins may import answers\."):
            answers_csv_import(assignment=assignment, file=data, user=user)
    assert Submission.objects.count() == 0
    assert answers_csv_import(assignment=assignment, file=data, user=school.admin) == 1


def test_import_page_shows_every_problem_and_imports_nothing(school: School) -> None:
    assignment = make_assignment(school.course)
    client = client_for(school.teacher)
    url = reverse("grading:assignment_import", args=[assignment.pk])
    assert "student,question,answer" in client.get(url).content.decode()
    bad = SimpleUploadedFile("answers.csv", b"student,question,answer\nnobody,1,x\n", content_type="text/csv")

    response = client.post(url, {"file": bad})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported." in page
    assert "Row 2, column “student”: no user is called “nobody”." in page
    good = SimpleUploadedFile(
        "answers.csv", f"student,question,answer\n{school.student.username},2,Fine\n".encode(), content_type="text/csv"
    )
    done = client.post(url, {"file": good}, follow=True)
    assert "Imported 1 answer." in done.content.decode()
    assert Submission.objects.get().answer_text == "Fine"


def test_import_page_of_another_course_is_404_and_imports_nothing(school: School) -> None:
    assignment = make_assignment(school.course)
    upload = SimpleUploadedFile("a.csv", f"student,question,answer\n{school.student.username},1,x\n".encode())
    response = client_for(school.other_teacher).post(
        reverse("grading:assignment_import", args=[assignment.pk]), {"file": upload}
    )
    assert response.status_code == 404
    assert Submission.objects.count() == 0


# --- Export -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tTabbed", "'\tTabbed"),
        ("\rReturn", "'\rReturn"),
        ("Plain = text", "Plain = text"),
        (None, ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_get_an_apostrophe(value, cell) -> None:
    assert csv_cell(value) == cell


def test_export_has_every_current_answer_with_its_grade(school: School) -> None:
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    graded = make_grade(
        answer(q1, school.student, "=cmd|' /C calc'!A0"), label="partially_correct", confidence=0.4567, feedback="@you"
    )
    graded.reviewer = school.teacher
    graded.status = Grade.Status.APPROVED
    graded.save()
    answer(q2, school.student, "Not graded yet")

    rows = list(grades_csv_rows(assignment=assignment))

    assert rows == [
        [
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
        ],
        [
            school.student.username,
            "1",
            "'=cmd|' /C calc'!A0",
            "partially_correct",
            "1.00",
            "2.00",
            "0.457",
            "'@you",
            "approved",
            "partially_correct",
            school.teacher.username,
        ],
        [school.student.username, "2", "Not graded yet", "", "", "2.00", "", "", "ungraded", "", ""],
    ]


def test_export_download_is_a_utf8_csv_for_the_courses_teachers(school: School) -> None:
    assignment = make_assignment(school.course, title="Quiz: layers")
    make_grade(answer(questions_of(assignment)[0], school.student, "Überall"))

    response = client_for(school.teacher).get(reverse("grading:assignment_export", args=[assignment.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="grades-quiz-layers.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffstudent,question,answer,")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][:4] == [school.student.username, "1", "Überall", "correct"]
    assert (
        client_for(school.other_teacher).get(reverse("grading:assignment_export", args=[assignment.pk])).status_code
        == 404
    )
