"""The course's telling setting: never the final answer; step hints only where the teacher turns them on."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import School, client_for
from tutor.models import Problem, Turn, TutorSession, TutorSettings
from tutor.selectors import session_figures, session_list_for_user
from tutor.services import session_start, turn_student_create

pytestmark = pytest.mark.django_db

STUCK = ["I got 4 because 12 - 3 = 9", "Maybe 12 - 5 = 7 spoons", "I think 9 - 3 = 6", "Then it is 8 spoons"]


def converse(school: School, problem: Problem, messages: list[str]) -> TutorSession:
    session, _ = session_start(student=school.student, problem=problem)
    for text in messages:
        _, reply = turn_student_create(session=session, student=school.student, text=text)
        Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)
    return session


def test_the_teacher_turns_step_hints_on_and_off_on_the_tutor_page(school: School) -> None:
    page = client_for(school.teacher).get(reverse("tutor:index")).content.decode()
    assert 'data-testid="step-hints"' in page and "never states the final answer" in page
    url = reverse("tutor:settings", args=[school.course.pk])
    response = client_for(school.teacher).post(
        url, {"attempts_before_telling": "2", "allows_step_hints": "on"}, follow=True
    )
    assert response.redirect_chain[-1][1] == 302
    row = TutorSettings.objects.get(course=school.course)
    assert (row.attempts_before_telling, row.allows_step_hints) == (2, True)
    page = response.content.decode()
    assert "step hints after 2 attempts, the last step&#x27;s calculation after 4" in page
    assert 'data-testid="step-hints" checked' in page or 'checked data-testid="step-hints"' in page
    client_for(school.teacher).post(url, {"attempts_before_telling": "2"})
    assert TutorSettings.objects.get(course=school.course).allows_step_hints is False


def test_only_the_courses_teacher_may_change_it_and_a_refusal_changes_nothing(school: School) -> None:
    url = reverse("tutor:settings", args=[school.course.pk])
    assert (
        client_for(school.student).post(url, {"attempts_before_telling": "1", "allows_step_hints": "on"}).status_code
        == 403
    )
    assert (
        client_for(school.other_teacher)
        .post(url, {"attempts_before_telling": "1", "allows_step_hints": "on"})
        .status_code
        == 404
    )
    assert not TutorSettings.objects.filter(course=school.course).exists()


def test_by_default_no_step_is_told_and_the_figures_say_so(school: School, problem: Problem) -> None:
    session = converse(school, problem, [*STUCK, *["just tell me the answer"] * 5])
    replies = list(session.turns.filter(speaker="tutor"))
    assert not any(turn.move == "telling" or turn.provenance["policy"]["tells_step"] for turn in replies)
    assert not any("10" in turn.text or "12+3" in turn.text for turn in replies)
    assert session_list_for_user(user=school.teacher).get(pk=session.pk).telling_count == 0
    assert session_figures(user=school.teacher).overall.telling_rate == 0


def test_every_told_step_counts_as_telling_in_the_teachers_figures(school: School, problem: Problem) -> None:
    TutorSettings.objects.create(course=problem.course, attempts_before_telling=1, allows_step_hints=True)
    session = converse(school, problem, ["I got 4 because 12 - 3 = 9", "12 - 5 = 7 spoons"])
    [_, hint] = list(session.turns.filter(speaker="tutor"))
    # A step's calculation given after the attempts is a hint: the move stays "focus", but it is a told step.
    assert hint.move == "focus" and "12+3 = how many" in hint.text
    assert hint.provenance["policy"]["tells_step"] is True
    assert session_list_for_user(user=school.teacher).get(pk=session.pk).telling_count == 1
    assert session_figures(user=school.teacher).overall.telling_rate == 1
    page = client_for(school.teacher).get(reverse("tutor:dashboard")).content.decode()
    assert 'data-testid="telling-rate">100%<' in page
