"""The hot pages and endpoints (the ones bench/load.py drives) read the database a fixed number of times,
however many students, answers, grades and tutor sessions there are: an N+1 query cannot come back (issue 16).

Each URL is read in a small school and again after more students, answers, grades and sessions were added;
the number of queries must be the same both times and equal to the figure below. A change that adds a query
to a page on purpose updates its figure here.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from grading.models import Assignment, Grade
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import School, client_for
from tests.grading.test_views import answer, make_assignment, make_grade
from tests.tutor.factories import ProblemFactory
from tutor.services import session_start

pytestmark = pytest.mark.django_db

# (who, URL template, queries). Sign-in and session reads are counted too: they are part of every request.
HOT: list[tuple[str, str, int]] = [
    ("student", "/", 4),
    ("student", "/tutor/", 6),
    ("student", "/grading/", 7),
    ("student", "/grading/attention/", 6),
    ("student", "/notices/tutor/", 3),
    ("student", "/tutor/sessions/", 5),
    ("student", "/api/me/", 2),
    ("student", "/api/courses/", 5),
    ("student", "/api/tutor/problems/", 4),
    ("student", "/api/grading/grades/released/", 3),
    ("teacher", "/", 4),
    ("teacher", "/grading/", 5),
    ("teacher", "/grading/attention/", 5),
    ("teacher", "/tutor/attention/", 3),
    ("teacher", "/tutor/", 6),
    ("teacher", "/tutor/dashboard/", 4),
    ("teacher", "/tutor/sessions/", 5),
    ("teacher", "/grading/assignments/{assignment}/", 15),
    ("teacher", "/grading/assignments/{assignment}/review/", 8),
    ("teacher", "/api/grading/assignments/", 5),
    ("teacher", "/api/grading/assignments/{assignment}/grades/", 6),
    ("admin", "/", 8),
]


def _grow(school: School, assignment: Assignment, *, students: int) -> None:
    """More of everything a hot page lists: students with answers and grades, problems and tutor sessions."""
    for _ in range(students):
        student = StudentFactory()
        EnrollmentFactory(course=school.course, student=student)
        for position, question in enumerate(assignment.questions.order_by("position")):
            status = Grade.Status.RELEASED if position == 0 else Grade.Status.AWAITING_REVIEW
            make_grade(answer(question, student), status=status, label="partially_correct" if position else "correct")
        problem = ProblemFactory(course=school.course)
        session_start(problem=problem, student=student)
        session_start(problem=problem, student=school.student)


def _counts(school: School, assignment: Assignment) -> dict[tuple[str, str], int]:
    users: dict[str, User] = {"student": school.student, "teacher": school.teacher, "admin": school.admin}
    clients = {role: client_for(user) for role, user in users.items()}
    counts = {}
    for role, template, _ in HOT:
        url = template.format(assignment=assignment.pk)
        with CaptureQueriesContext(connection) as queries:
            response = clients[role].get(url)
        assert response.status_code == 200, (role, url, response.status_code)
        counts[(role, template)] = len(queries)
    return counts


def test_hot_pages_read_the_database_a_fixed_number_of_times(school: School) -> None:
    assignment = make_assignment(school.course, title="Layers")
    _grow(school, assignment, students=1)
    small = _counts(school, assignment)

    _grow(school, assignment, students=4)
    large = _counts(school, assignment)

    grew = {key: (small[key], large[key]) for key in small if small[key] != large[key]}
    assert not grew, f"queries grow with the rows (an N+1): {grew}"
    expected = {(role, template): count for role, template, count in HOT}
    assert large == expected, "queries (who, url, measured, expected): " + "; ".join(
        f"{role} {template} {large[(role, template)]} {count}" for role, template, count in HOT
    )
