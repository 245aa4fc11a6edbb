"""Pages of the tutor: who sees what, the htmx chat posts, teachers' figures, flags and exports.

No reply is generated here (posting only stores the pending reply); the stream has its own tests.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import School, client_for
from tests.tutor.factories import SPOONS_SOLUTION, ProblemFactory
from tutor.models import Problem, Turn, TutorSession, TutorSettings
from tutor.services import session_start, turn_student_create

pytestmark = pytest.mark.django_db


def complete(reply: Turn, text: str = "") -> Turn:
    Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=text or reply.planned_text)
    reply.refresh_from_db()
    return reply


def solved_session(school: School, problem: Problem) -> TutorSession:
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I got 4 because 12 - 3 = 9")
    complete(reply)
    _, reply = turn_student_create(session=session, student=school.student, text="12 + 3 = 15 and 15 - 5 = 10")
    complete(reply)
    session.refresh_from_db()
    return session


def test_students_see_assigned_problems_of_their_courses_only(school: School, problem: Problem, other_problem) -> None:
    ProblemFactory(course=school.course, title="Not assigned yet", is_assigned=False)
    page = client_for(school.student).get(reverse("tutor:index")).content.decode()
    assert "Julia&#x27;s spoons" in page
    assert "Spoons elsewhere" not in page and "Not assigned yet" not in page


def test_teachers_see_their_courses_bank_with_assign_toggles(school: School, problem: Problem, other_problem) -> None:
    page = client_for(school.teacher).get(reverse("tutor:index")).content.decode()
    assert "Julia&#x27;s spoons" in page and "Spoons elsewhere" not in page
    response = client_for(school.teacher).post(
        reverse("tutor:assign", args=[problem.pk]), {"is_assigned": "0"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert f'id="problem-{problem.pk}"' in response.content.decode()
    problem.refresh_from_db()
    assert problem.is_assigned is False
    # Another course's teacher gets a 404 and changes nothing.
    response = client_for(school.other_teacher).post(reverse("tutor:assign", args=[problem.pk]), {"is_assigned": "1"})
    assert response.status_code == 404
    problem.refresh_from_db()
    assert problem.is_assigned is False


def test_a_student_may_not_manage_the_bank(school: School, problem: Problem) -> None:
    client = client_for(school.student)
    assert client.post(reverse("tutor:assign", args=[problem.pk]), {"is_assigned": "0"}).status_code == 403
    upload = SimpleUploadedFile("bank.json", b"[]", content_type="application/json")
    assert client.post(reverse("tutor:import", args=[school.course.pk]), {"file": upload}).status_code == 403
    assert client.get(reverse("tutor:dashboard")).status_code == 403
    assert client.get(reverse("tutor:export_sessions")).status_code == 403
    problem.refresh_from_db()
    assert problem.is_assigned is True


def test_teacher_uploads_a_problem_file_and_a_bad_one_imports_nothing(school: School) -> None:
    client = client_for(school.teacher)
    good = json.dumps(
        [{"title": "Spoons", "statement": "How many?", "worked_solution": SPOONS_SOLUTION, "final_answer": "10"}]
    )
    response = client.post(
        reverse("tutor:import", args=[school.course.pk]),
        {"file": SimpleUploadedFile("bank.json", good.encode()), "is_assigned": "on"},
        follow=True,
    )
    assert "Imported 1 problem." in response.content.decode()
    assert Problem.objects.get(title="Spoons").is_assigned is True
    bad = b"title,statement,worked_solution,final_answer\nA,Q,1+1=2,2\nB,,2+2=4,4\n"
    response = client.post(
        reverse("tutor:import", args=[school.course.pk]), {"file": SimpleUploadedFile("bank.csv", bad)}, follow=True
    )
    assert "Nothing was imported. Row 3: “statement” is missing or empty." in response.content.decode()
    assert Problem.objects.count() == 1
    # A course they do not teach: nothing.
    response = client.post(
        reverse("tutor:import", args=[school.other_course.pk]), {"file": SimpleUploadedFile("bank.json", good.encode())}
    )
    assert response.status_code == 404
    assert Problem.objects.count() == 1


def test_teacher_sets_the_attempts_before_telling(school: School) -> None:
    response = client_for(school.teacher).post(
        reverse("tutor:settings", args=[school.course.pk]), {"attempts_before_telling": "5"}
    )
    assert response.status_code == 302
    assert TutorSettings.objects.get(course=school.course).attempts_before_telling == 5
    client_for(school.teacher).post(
        reverse("tutor:settings", args=[school.course.pk]), {"attempts_before_telling": "0"}
    )
    assert TutorSettings.objects.get(course=school.course).attempts_before_telling == 5


def test_start_then_post_a_message_with_htmx(school: School, problem: Problem) -> None:
    client = client_for(school.student)
    response = client.post(reverse("tutor:start", args=[problem.pk]))
    session = TutorSession.objects.get(student=school.student)
    assert response["Location"] == reverse("tutor:session", args=[session.pk])
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="message-form"' in page and "Open" in page
    response = client.post(
        reverse("tutor:message", args=[session.pk]), {"text": "I got 4"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    reply = Turn.objects.get(speaker="tutor")
    assert f'sse-connect="{reverse("tutor:stream", args=[reply.pk])}?offset=0"' in body
    assert 'id="composer" class="composer" hx-swap-oob="true"' in body and "disabled" in body
    # Starting again resumes the open session.
    assert client.post(reverse("tutor:start", args=[problem.pk]))["Location"] == reverse(
        "tutor:session", args=[session.pk]
    )


@pytest.mark.parametrize(
    ("text", "status", "message"),
    [("", 400, "Write a message first"), ("x" * 20_000, 400, "Your message is 20,000 characters long")],
)
def test_bad_messages_get_a_clear_fragment_and_store_nothing(
    school: School, problem: Problem, text: str, status: int, message: str
) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    response = client_for(school.student).post(
        reverse("tutor:message", args=[session.pk]), {"text": text}, headers={"HX-Request": "true"}
    )
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Turn.objects.exists()


def test_another_students_session_is_a_404_and_nothing_is_stored(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    other = client_for(school.other_student)
    assert other.get(reverse("tutor:session", args=[session.pk])).status_code == 404
    response = other.post(
        reverse("tutor:message", args=[session.pk]), {"text": "I got 10"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 404
    assert not Turn.objects.exists()


def test_rate_limited_message_is_refused_with_429(school: School, problem: Problem, settings) -> None:
    settings.TUTOR_MESSAGES_PER_MINUTE = 1
    session, _ = session_start(student=school.student, problem=problem)
    client = client_for(school.student)
    client.post(reverse("tutor:message", args=[session.pk]), {"text": "I got 4"}, headers={"HX-Request": "true"})
    complete(Turn.objects.get(speaker="tutor"))
    response = client.post(
        reverse("tutor:message", args=[session.pk]), {"text": "12 - 3"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 429
    assert "too fast" in response.content.decode()
    assert Turn.objects.count() == 2


def test_teacher_reads_the_transcript_with_moves_and_flags_a_reply(school: School, problem: Problem) -> None:
    session = solved_session(school, problem)
    teacher = client_for(school.teacher)
    page = teacher.get(reverse("tutor:session", args=[session.pk])).content.decode()
    assert 'data-testid="move">generic<' in page
    assert "Solved" in page
    reply = session.turns.filter(speaker="tutor").first()
    response = teacher.post(
        reverse("tutor:flag", args=[reply.pk]),
        {"is_flagged": "on", "better_reply": "Which numbers did you add first?"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Which numbers did you add first?" in response.content.decode()
    reply.refresh_from_db()
    assert (reply.is_flagged, reply.flagged_by) == (True, school.teacher)
    # Another course's teacher and the student cannot flag.
    assert client_for(school.other_teacher).post(reverse("tutor:flag", args=[reply.pk]), {}).status_code == 404
    assert client_for(school.student).post(reverse("tutor:flag", args=[reply.pk]), {}).status_code == 403
    reply.refresh_from_db()
    assert reply.better_reply == "Which numbers did you add first?"


def test_dashboard_figures_per_problem_and_student(
    school: School, problem: Problem, django_assert_max_num_queries
) -> None:
    solved_session(school, problem)
    teacher = client_for(school.teacher)
    with django_assert_max_num_queries(8):
        page = teacher.get(reverse("tutor:dashboard")).content.decode()
    assert 'data-testid="count-sessions">1<' in page
    assert 'data-testid="solved-rate">100%<' in page
    assert page.count('data-testid="figures-row"') == 2
    other = client_for(school.other_teacher).get(reverse("tutor:dashboard")).content.decode()
    assert 'data-testid="count-sessions">0<' in other


def test_session_list_pages_are_filtered_and_query_bounded(
    school: School, problem: Problem, django_assert_max_num_queries
) -> None:
    for _ in range(3):
        session = solved_session(school, problem)
        assert session.status == "solved"
    teacher = client_for(school.teacher)
    with django_assert_max_num_queries(8):
        page = teacher.get(reverse("tutor:sessions")).content.decode()
    assert page.count('data-testid="session-row"') == 3
    assert client_for(school.other_teacher).get(reverse("tutor:sessions")).content.decode().count("session-row") == 0
    assert client_for(school.other_student).get(reverse("tutor:sessions")).content.decode().count("session-row") == 0


def test_jsonl_export_in_the_mathdial_layout(school: School, problem: Problem) -> None:
    session = solved_session(school, problem)
    reply = session.turns.filter(speaker="tutor").first()
    reply.is_flagged, reply.better_reply = True, "How did you get 9?"
    reply.save()
    response = client_for(school.teacher).get(reverse("tutor:export_sessions"))
    lines = response.content.decode().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["question"] == problem.statement
    assert row["ground_truth"] == problem.worked_solution
    assert row["self-correctness"] == "Yes"
    assert row["student_incorrect_solution"] == "I got 4 because 12 - 3 = 9"
    parts = row["conversation"].split("|EOM|")
    assert parts[0] == "Student: I got 4 because 12 - 3 = 9"
    assert parts[1].startswith("Teacher: (generic)Hi ")
    assert row["better_replies"] == [
        {"turn": reply.pk, "position": 1, "move": "generic", "reply": reply.text, "better": "How did you get 9?"}
    ]
    pairs = client_for(school.teacher).get(reverse("tutor:export_training")).content.decode().splitlines()
    assert json.loads(pairs[0])["chosen"] == "How did you get 9?"
    assert client_for(school.other_teacher).get(reverse("tutor:export_sessions")).content == b""
