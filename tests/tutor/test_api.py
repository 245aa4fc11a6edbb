"""The tutor API: filtered by role and course, paginated, bounded queries, and refusals that change nothing."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import School
from tests.tutor.factories import ProblemFactory
from tutor.models import Problem, Turn, TutorSession
from tutor.services import session_start, turn_student_create

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def exchange(school: School, problem: Problem, text: str = "I got 4 because 12 - 3 = 9") -> TutorSession:
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text=text)
    Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)
    return session


def test_problem_list_shows_students_only_assigned_problems(school: School, problem: Problem, other_problem) -> None:
    ProblemFactory(course=school.course, title="Hidden", is_assigned=False)
    titles = [row["title"] for row in api_for(school.student).get(reverse("api-tutor-problems")).json()["results"]]
    assert titles == ["Julia's spoons"]
    titles = [row["title"] for row in api_for(school.teacher).get(reverse("api-tutor-problems")).json()["results"]]
    assert sorted(titles) == ["Hidden", "Julia's spoons"]


def test_session_list_is_filtered_paginated_and_query_bounded(
    school: School, problem: Problem, django_assert_max_num_queries
) -> None:
    for _ in range(3):
        session = exchange(school, problem)
        TutorSession.objects.filter(pk=session.pk).update(status=TutorSession.Status.ABANDONED)
    student, teacher = api_for(school.student), api_for(school.teacher)
    with django_assert_max_num_queries(3):
        body = student.get(reverse("api-tutor-sessions")).json()
    assert body["count"] == 3 and len(body["results"]) == 3
    assert body["results"][0]["turn_count"] == 2
    with django_assert_max_num_queries(3):
        assert teacher.get(reverse("api-tutor-sessions"), {"page_size": 2}).json()["count"] == 3
    assert api_for(school.other_teacher).get(reverse("api-tutor-sessions")).json()["count"] == 0
    assert api_for(school.other_student).get(reverse("api-tutor-sessions")).json()["count"] == 0


def test_a_student_starts_or_resumes_a_session_and_others_may_not(school: School, problem: Problem) -> None:
    client = api_for(school.student)
    first = client.post(reverse("api-tutor-sessions"), {"problem": problem.pk}, format="json")
    again = client.post(reverse("api-tutor-sessions"), {"problem": problem.pk}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    teacher = api_for(school.teacher).post(reverse("api-tutor-sessions"), {"problem": problem.pk}, format="json")
    assert teacher.status_code == 403
    assert teacher.json()["error"]["code"] == "permission_denied"
    outsider = api_for(school.other_student).post(reverse("api-tutor-sessions"), {"problem": problem.pk}, format="json")
    assert outsider.status_code == 404
    assert TutorSession.objects.count() == 1


def test_session_detail_shows_turns_with_provenance_to_teachers_only(school: School, problem: Problem) -> None:
    session = exchange(school, problem)
    url = reverse("api-tutor-session", args=[session.pk])
    teacher_view = api_for(school.teacher).get(url).json()
    assert [turn["speaker"] for turn in teacher_view["turns"]] == ["student", "tutor"]
    assert teacher_view["turns"][1]["move"] == "generic"
    assert teacher_view["turns"][1]["provenance"]["policy"]["policy"] == "tutor-policy@v4"
    student_view = api_for(school.student).get(url).json()
    assert "provenance" not in student_view["turns"][1] and "move" not in student_view["turns"][1]
    assert api_for(school.other_student).get(url).status_code == 404
    assert api_for(school.other_teacher).get(url).status_code == 404


def test_posting_a_message_returns_the_turn_and_the_stream_url(school: School, problem: Problem) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    response = api_for(school.student).post(
        reverse("api-tutor-messages", args=[session.pk]), {"text": "I got 4"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    reply = Turn.objects.get(speaker="tutor")
    assert body["student_turn"]["text"] == "I got 4"
    assert body["reply"]["status"] == "pending"
    assert body["stream_url"] == f"http://testserver{reverse('api-tutor-turn-stream', args=[reply.pk])}"
    assert body["session"]["attempts"] == 1  # "I got 4" is a real attempt


@pytest.mark.parametrize(
    ("who", "text", "status", "code"),
    [
        ("teacher", "I got 10", 403, "permission_denied"),
        ("other_student", "I got 10", 404, "not_found"),
        ("student", "", 400, "empty_message"),
        ("student", "x" * 20_000, 400, "message_too_long"),
    ],
)
def test_refused_messages_store_nothing(
    school: School, problem: Problem, who: str, text: str, status: int, code: str
) -> None:
    session, _ = session_start(student=school.student, problem=problem)
    response = api_for(getattr(school, who)).post(
        reverse("api-tutor-messages", args=[session.pk]), {"text": text}, format="json"
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Turn.objects.exists()


def test_flagging_needs_the_courses_teacher(school: School, problem: Problem) -> None:
    session = exchange(school, problem)
    reply = session.turns.get(speaker="tutor")
    url = reverse("api-tutor-turn-flag", args=[reply.pk])
    assert api_for(school.student).post(url, {"better_reply": "x"}, format="json").status_code == 403
    assert api_for(school.other_teacher).post(url, {"better_reply": "x"}, format="json").status_code == 404
    reply.refresh_from_db()
    assert reply.is_flagged is False
    response = api_for(school.teacher).post(url, {"better_reply": "How did you get 9?"}, format="json")
    assert response.status_code == 200
    assert response.json()["better_reply"] == "How did you get 9?"


@pytest.mark.django_db(transaction=True)
def test_the_reply_stream_over_the_api(school: School, problem: Problem, settings) -> None:
    # The plumbing of the API stream; the model's part is tested in test_replies.
    settings.TUTOR_USE_MODEL = False
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I got 4")
    client = api_for(school.student)
    response = client.get(reverse("api-tutor-turn-stream", args=[reply.pk]), HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    pieces = [json.loads(line[6:])["text"] for line in body.splitlines() if line.startswith('data: {"text"')]
    done = json.loads(body.split("event: done\ndata: ", 1)[1].split("\n\n")[0])
    reply.refresh_from_db()
    assert "".join(pieces) == reply.text == reply.planned_text
    assert done["id"] == reply.pk and done["status"] == "complete" and done["text"] == reply.text
    other = api_for(school.other_student).get(reverse("api-tutor-turn-stream", args=[reply.pk]))
    assert other.status_code == 404
