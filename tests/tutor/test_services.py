"""Services of the tutor against the real database: imports, sessions, messages, flags."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.errors import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from tests.conftest import School
from tests.tutor.factories import SPOONS_SOLUTION, SPOONS_STATEMENT
from tutor.importers import ProblemImportError
from tutor.models import Problem, Turn, TutorSession
from tutor.services import (
    RateLimitedError,
    problem_assign_set,
    problems_import,
    session_abandon,
    session_start,
    turn_flag,
    turn_student_create,
    tutor_settings_for,
    tutor_settings_update,
)

pytestmark = pytest.mark.django_db

MATHDIAL_HEADER = [
    "qid",
    "scenario",
    "question",
    "ground_truth",
    "student_incorrect_solution",
    "student_profile",
    "teacher_described_confusion",
    "self-correctness",
    "self-typical-confusion",
    "self-typical-interactions",
    "conversation",
]
DESK_QUESTION = "Carmen goes to an auction to win an antique desk. How much does the desk cost her?"
DESK_SOLUTION = "So 3*50=150 and 150+150=300.\nThe desk costs 200+300=500.\n 500"


def mathdial_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MATHDIAL_HEADER)
    writer.writeheader()
    for row in rows:
        writer.writerow({name: row.get(name, "") for name in MATHDIAL_HEADER})
    return buffer.getvalue().encode()


def mathdial_row(qid: str, question: str, solution: str, confusion: str = "") -> dict[str, str]:
    return {
        "qid": qid,
        "question": question,
        "ground_truth": solution,
        "student_incorrect_solution": "I got 4.",
        "teacher_described_confusion": confusion,
        "conversation": "Teacher: (generic)Hi|EOM|Student: Hello",
    }


# --- imports ----------------------------------------------------------------------------------------
def test_mathdial_csv_import_makes_one_problem_per_qid(school: School) -> None:
    data = mathdial_csv(
        [
            mathdial_row("6000025", SPOONS_STATEMENT, SPOONS_SOLUTION, "subtracting instead of adding"),
            mathdial_row("6000025", SPOONS_STATEMENT, SPOONS_SOLUTION, "misread the question"),
            mathdial_row("6000044", DESK_QUESTION, DESK_SOLUTION),
        ]
    )
    report = problems_import(course=school.course, data=data, filename="mathdial_dev.csv", user=school.teacher)
    assert (report.created, report.skipped) == (2, 0)
    spoons = Problem.objects.get(course=school.course, source="MathDial qid 6000025")
    assert spoons.final_answer == "10"
    assert spoons.worked_solution == SPOONS_SOLUTION.strip()
    assert spoons.misconceptions == ["subtracting instead of adding", "misread the question"]
    assert spoons.title.startswith("Julia was preparing for a dinner party")
    assert spoons.is_assigned is False
    assert Problem.objects.get(source="MathDial qid 6000044").final_answer == "500"
    # The same file again changes nothing.
    again = problems_import(course=school.course, data=data, filename="mathdial_dev.csv")
    assert (again.created, again.skipped) == (0, 2)
    assert Problem.objects.filter(course=school.course).count() == 2


def test_csv_and_json_layouts_import_with_assignment(school: School) -> None:
    csv_data = (
        "title,statement,worked_solution,final_answer,misconceptions,assigned\n"
        f'Spoons,"{SPOONS_STATEMENT}","{SPOONS_SOLUTION}",10,adds instead | misreads,yes\n'
    ).encode()
    json_data = json.dumps(
        {"problems": [{"statement": DESK_QUESTION, "worked_solution": DESK_SOLUTION, "final_answer": 500}]}
    ).encode()
    assert problems_import(course=school.course, data=csv_data, filename="bank.csv").created == 1
    assert problems_import(course=school.course, data=json_data, filename="bank.json", is_assigned=True).created == 1
    spoons = Problem.objects.get(title="Spoons")
    assert (spoons.final_answer, spoons.misconceptions, spoons.is_assigned) == (
        "10",
        ["adds instead", "misreads"],
        True,
    )
    desk = Problem.objects.get(final_answer="500")
    assert desk.is_assigned is True and desk.title == "Carmen goes to an auction to win an antique desk"


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (
            mathdial_csv([mathdial_row("1", DESK_QUESTION, DESK_SOLUTION), {"qid": "2", "question": "What is 2+2?"}]),
            "mathdial.csv",
            "Row 3: “ground_truth” is empty.",
        ),
        (
            b"title,statement,worked_solution,final_answer\nA,Ask,1+1=2,2\nB,Ask again,2+2=4,\n",
            "bank.csv",
            "Row 3: “final_answer” is missing or empty.",
        ),
        (b"title,statement,final_answer\nA,Ask,2\n", "bank.csv", "the Tutorloop CSV layout needs the column"),
        (
            json.dumps(
                [{"statement": "a", "worked_solution": "1+1=2", "final_answer": "2"}, {"statement": "b"}]
            ).encode(),
            "bank.json",
            "Item 2: “worked_solution” is missing or empty.",
        ),
        (b"[{", "bank.json", "Line 1: the file is not valid JSON"),
        (b"", "bank.csv", "The file is empty."),
    ],
)
def test_a_bad_file_names_row_and_field_and_imports_nothing(
    school: School, data: bytes, filename: str, message: str
) -> None:
    with pytest.raises(ProblemImportError) as caught:
        problems_import(course=school.course, data=data, filename=filename)
    assert message in caught.value.message
    assert not Problem.objects.exists()


def test_only_the_courses_teachers_import_and_assign(school: School, problem: Problem) -> None:
    data = b"statement,worked_solution,final_answer\nAsk,1+1=2,2\n"
    with pytest.raises(PermissionDeniedError):
        problems_import(course=school.course, data=data, user=school.other_teacher)
    with pytest.raises(PermissionDeniedError):
        problem_assign_set(problem=problem, is_assigned=False, user=school.other_teacher)
    assert Problem.objects.count() == 1
    problem.refresh_from_db()
    assert problem.is_assigned is True


def test_course_settings_default_and_update(school: School) -> None:
    assert tutor_settings_for(course=school.course).attempts_before_telling == 3
    tutor_settings_update(course=school.course, attempts_before_telling=5, user=school.teacher)
    assert tutor_settings_for(course=school.course).attempts_before_telling == 5
    with pytest.raises(ApplicationError):
        tutor_settings_update(course=school.course, attempts_before_telling=0, user=school.teacher)
    assert tutor_settings_for(course=school.course).attempts_before_telling == 5


# --- sessions ----------------------------------------------------------------------------------------
def test_a_student_starts_or_resumes_a_session_on_an_assigned_problem(school: School, problem: Problem) -> None:
    session, created = session_start(student=school.student, problem=problem)
    again, created_again = session_start(student=school.student, problem=problem)
    assert (created, created_again) == (True, False)
    assert again.pk == session.pk
    problem.is_assigned = False
    problem.save()
    with pytest.raises(NotFoundError):
        session_start(student=school.other_student, problem=problem)


def test_sending_a_message_stores_it_and_a_pending_reply_with_its_move(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    student_turn, reply = turn_student_create(
        session=session, student=school.student, text="  I got 4 because 12 - 3 = 9 and 9 - 5 = 4  "
    )
    assert student_turn.text == "I got 4 because 12 - 3 = 9 and 9 - 5 = 4"
    assert (reply.speaker, reply.status, reply.move, reply.reply_to_id) == (
        "tutor",
        "pending",
        "generic",
        student_turn.pk,
    )
    assert reply.planned_text == (
        f"Hi {school.student.first_name}, could you please walk me through your solution? "
        "Can you tell me how you got 9?"
    )
    assert reply.provenance["policy"]["policy"] == "tutor-policy@v4"
    session.refresh_from_db()
    assert session.attempts == 1
    # A second message waits for the reply.
    with pytest.raises(ConflictError, match="Wait for the tutor's reply"):
        turn_student_create(session=session, student=school.student, text="hello?")
    assert session.turns.count() == 2


def _answer_reply(reply: Turn) -> None:
    Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)


def test_stating_the_answer_solves_the_session(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I think 4 spoons, 12 - 3 = 9")
    _answer_reply(reply)
    _, confirmation = turn_student_create(session=session, student=school.student, text="Oh! It is $10")
    session.refresh_from_db()
    assert session.status == TutorSession.Status.SOLVED
    assert session.finished_at is not None
    assert confirmation.move == "generic" and confirmation.planned_text == "Yes, 10 is correct, well done."
    _answer_reply(confirmation)
    with pytest.raises(ConflictError, match="This session is solved"):
        turn_student_create(session=session, student=school.student, text="one more")
    assert session.turns.count() == 4


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("   ", ApplicationError, "Write a message first"),
        ("x" * 20_000, ApplicationError, "Your message is 20,000 characters long"),
    ],
)
def test_empty_and_huge_messages_are_refused_and_nothing_is_stored(
    school: School, problem: Problem, text: str, error: type[Exception], message: str
) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    with pytest.raises(error, match=message):
        turn_student_create(session=session, student=school.student, text=text)
    assert not Turn.objects.exists()


def test_someone_elses_or_a_closed_session_is_refused_and_nothing_is_stored(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    with pytest.raises(NotFoundError):
        turn_student_create(session=session, student=school.other_student, text="I got 10")
    session_abandon(session=session, student=school.student)
    with pytest.raises(ConflictError, match="abandoned"):
        turn_student_create(session=session, student=school.student, text="I got 10")
    assert not Turn.objects.exists()
    session.refresh_from_db()
    assert (session.status, session.attempts) == ("abandoned", 0)


def test_the_rate_limit_protects_the_model(school: School, problem: Problem, settings) -> None:
    settings.TUTOR_MESSAGES_PER_MINUTE = 2
    session, _ = session_start(student=school.student, problem=problem)
    for text in ("I got 4", "12 - 3 = 9"):
        _, reply = turn_student_create(session=session, student=school.student, text=text)
        _answer_reply(reply)
    with pytest.raises(RateLimitedError, match="at most 2 a minute") as caught:
        turn_student_create(session=session, student=school.student, text="and 9 - 5 = 4")
    assert caught.value.status_code == 429
    assert session.turns.count() == 4


def test_off_topic_messages_are_flagged_for_the_teacher(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I got 4")
    _answer_reply(reply)
    student_turn, reply = turn_student_create(
        session=session, student=school.student, text="do you like football and video games tonight"
    )
    assert (student_turn.is_flagged, student_turn.flag_reason, reply.move) == (True, "off_topic", "generic")


def test_a_teacher_flags_a_reply_with_a_better_one(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    student_turn, reply = turn_student_create(session=session, student=school.student, text="I got 4")
    _answer_reply(reply)
    reply.refresh_from_db()
    with pytest.raises(PermissionDeniedError):
        turn_flag(turn=reply, teacher=school.other_teacher, better_reply="nope")
    with pytest.raises(ApplicationError, match="Only the tutor's replies"):
        turn_flag(turn=student_turn, teacher=school.teacher)
    reply.refresh_from_db()
    assert reply.is_flagged is False
    turn_flag(turn=reply, teacher=school.teacher, better_reply="How did you get 4?")
    reply.refresh_from_db()
    assert (reply.is_flagged, reply.better_reply, reply.flagged_by) == (True, "How did you get 4?", school.teacher)
