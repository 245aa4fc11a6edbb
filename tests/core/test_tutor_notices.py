"""Students see the tutor problems newly assigned to them on their dashboard (issue 17, item 3)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import School, client_for
from tests.tutor.factories import ProblemFactory
from tutor.models import TutorSession

pytestmark = pytest.mark.django_db


def test_a_student_sees_assigned_problems_they_have_not_opened(school: School) -> None:
    first = ProblemFactory(course=school.course, title="Spoons")
    ProblemFactory(course=school.course, title="Pencils")
    ProblemFactory(course=school.course, title="Not yet", is_assigned=False)
    ProblemFactory(course=school.other_course, title="Elsewhere")
    client = client_for(school.student)

    dashboard = client.get(reverse("accounts:dashboard")).content.decode()
    assert reverse("core:tutor_notices") in dashboard
    notice = client.get(reverse("core:tutor_notices")).content.decode()
    assert f"<strong>2</strong> new tutor problems to try in “{school.course.name}”" in notice
    assert reverse("tutor:index") in notice

    TutorSession.objects.create(student=school.student, problem=first)
    notice = client.get(reverse("core:tutor_notices")).content.decode()
    assert f"<strong>1</strong> new tutor problem to try in “{school.course.name}”" in notice

    other = client_for(school.other_student).get(reverse("core:tutor_notices")).content.decode()
    assert f"<strong>1</strong> new tutor problem to try in “{school.other_course.name}”" in other
    assert school.course.name not in other


def test_no_notice_when_every_assigned_problem_is_started(school: School) -> None:
    problem = ProblemFactory(course=school.course)
    TutorSession.objects.create(student=school.student, problem=problem)
    notice = client_for(school.student).get(reverse("core:tutor_notices")).content.decode()
    assert 'data-testid="attention-empty"' in notice and 'data-testid="attention-item"' not in notice


def test_teachers_have_no_student_notices(school: School) -> None:
    assert client_for(school.teacher).get(reverse("core:tutor_notices")).status_code == 403
