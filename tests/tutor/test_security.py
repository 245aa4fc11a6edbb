"""What a student must never see (a teacher's better reply), and bad filters that are a 400, not a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import School, client_for
from tests.tutor.test_replies import parse
from tutor.models import Problem, Turn
from tutor.services import session_start, turn_flag, turn_student_create

BETTER = "Which spoons did Julia use while tasting the stew?"


def flagged_reply(school: School, problem: Problem) -> Turn:
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I got 4 because 12 - 3 = 9")
    Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)
    reply.refresh_from_db()
    return turn_flag(turn=reply, teacher=school.teacher, better_reply=BETTER)


@pytest.mark.django_db
def test_the_student_page_never_shows_a_teachers_better_reply(school: School, problem: Problem) -> None:
    reply = flagged_reply(school, problem)
    url = reverse("tutor:session", args=[reply.session_id])
    student_page = client_for(school.student).get(url).content.decode()
    assert reply.text in student_page.replace("&#x27;", "'")
    assert "Better:" not in student_page and "Julia use while tasting" not in student_page
    teacher_page = client_for(school.teacher).get(url).content.decode()
    assert "Better:" in teacher_page and "Julia use while tasting" in teacher_page


@pytest.mark.django_db(transaction=True)
def test_the_streams_done_event_never_carries_a_better_reply_to_the_student(school: School, problem: Problem) -> None:
    # A student (re)opening a complete, flagged reply's stream gets `done` at once: the turn as the page shows it.
    reply = flagged_reply(school, problem)
    response = client_for(school.student).get(reverse("tutor:stream", args=[reply.pk]))
    events = parse(b"".join(response.streaming_content).decode())
    done = [data for kind, data in events if kind == "done"]
    assert len(done) == 1 and f'id="turn-{reply.pk}"' in done[0]
    assert "Better:" not in done[0] and "tasting" not in done[0]
    teacher = client_for(school.teacher).get(reverse("tutor:stream", args=[reply.pk]))
    teacher_done = [data for kind, data in parse(b"".join(teacher.streaming_content).decode()) if kind == "done"]
    assert "tasting" in teacher_done[0]
    api = APIClient()
    api.force_authenticate(school.student)
    body = b"".join(api.get(reverse("api-tutor-turn-stream", args=[reply.pk])).streaming_content).decode()
    assert "tasting" not in body and "better_reply" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{"problem": "abc"}, {"student": "abc"}, {"problem": "-3"}, {"student": "1.5"}])
def test_a_bad_session_filter_on_the_page_is_a_400_with_a_message(school: School, problem: Problem, query) -> None:
    response = client_for(school.teacher).get(reverse("tutor:sessions"), query)
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="filter-error"' in page and "whole number" in page
    assert f"“{next(iter(query))}”" in page


@pytest.mark.django_db
def test_a_good_session_filter_on_the_page_still_filters(school: School, problem: Problem) -> None:
    flagged_reply(school, problem)
    client = client_for(school.teacher)
    assert client.get(reverse("tutor:sessions"), {"problem": problem.pk}).content.decode().count("session-row") == 1
    assert (
        client.get(reverse("tutor:sessions"), {"problem": problem.pk + 99}).content.decode().count("session-row") == 0
    )
    assert client.get(reverse("tutor:sessions"), {"student": school.student.pk}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{"course": "abc"}, {"problem": "abc"}, {"course": "0"}])
def test_a_bad_session_filter_on_the_api_is_a_400_in_the_error_shape(school: School, problem: Problem, query) -> None:
    api = APIClient()
    api.force_authenticate(school.teacher)
    response = api.get(reverse("api-tutor-sessions"), query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert next(iter(query)) in error["fields"]


@pytest.mark.django_db
def test_a_good_session_filter_on_the_api_still_filters(school: School, problem: Problem) -> None:
    flagged_reply(school, problem)
    api = APIClient()
    api.force_authenticate(school.teacher)
    assert api.get(reverse("api-tutor-sessions"), {"problem": problem.pk}).json()["count"] == 1
    assert api.get(reverse("api-tutor-sessions"), {"course": problem.course_id + 99}).json()["count"] == 0
