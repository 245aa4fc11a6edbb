"""Release by question and by student; students' notices; the dashboards' "what needs you" (issue 17, item 3)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import Job
from grading.models import Grade
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import School, client_for
from tests.grading.test_views import answer, make_assignment, make_grade

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(school: School):
    """Two students, three questions, every grade approved."""
    second = StudentFactory()
    EnrollmentFactory(course=school.course, student=second)
    assignment = make_assignment(school.course)
    questions = list(assignment.questions.order_by("position"))
    grades = {
        (student.pk, question.position): make_grade(answer(question, student), status=Grade.Status.APPROVED)
        for student in (school.student, second)
        for question in questions
    }
    return assignment, questions, second, grades


def _statuses(grades) -> dict:
    return {key: Grade.objects.get(pk=grade.pk).status for key, grade in grades.items()}


def test_release_one_question(school: School, reviewed) -> None:
    assignment, questions, second, grades = reviewed

    response = client_for(school.teacher).post(
        reverse("grading:assignment_release", args=[assignment.pk]), {"question": questions[1].pk}, follow=True
    )

    assert "Released 2 grades of Q2 to students." in response.content.decode()
    released = {key for key, status in _statuses(grades).items() if status == Grade.Status.RELEASED}
    assert released == {(school.student.pk, 2), (second.pk, 2)}


def test_release_one_student_through_the_api(school: School, reviewed) -> None:
    assignment, _, second, grades = reviewed

    response = client_for(school.teacher).post(
        f"/api/grading/assignments/{assignment.pk}/release/", {"student": second.pk}, content_type="application/json"
    )

    assert response.status_code == 200 and response.json() == {"released": 3}
    released = {key for key, status in _statuses(grades).items() if status == Grade.Status.RELEASED}
    assert released == {(second.pk, 1), (second.pk, 2), (second.pk, 3)}


def test_a_student_of_another_course_or_another_teacher_releases_nothing(school: School, reviewed) -> None:
    assignment, _, _, grades = reviewed
    url = reverse("grading:assignment_release", args=[assignment.pk])

    bad = client_for(school.teacher).post(url, {"student": school.other_student.pk}, follow=True)
    other_teacher = client_for(school.other_teacher).post(url, {"question": assignment.questions.first().pk})
    api = client_for(school.teacher).post(
        f"/api/grading/assignments/{assignment.pk}/release/", {"question": 999999}, content_type="application/json"
    )

    assert "Select a valid choice" in bad.content.decode()
    assert other_teacher.status_code == 404
    assert api.status_code == 400 and "question" in api.json()["error"]["fields"]
    assert set(_statuses(grades).values()) == {Grade.Status.APPROVED}


def test_a_student_sees_new_grades_and_open_questions_until_they_read_them(school: School) -> None:
    assignment = make_assignment(school.course, title="Layers")
    first = assignment.questions.order_by("position").first()
    make_grade(answer(first, school.student), status=Grade.Status.RELEASED)
    client = client_for(school.student)

    notice = client.get(reverse("grading:attention")).content.decode()

    assert "<strong>1</strong> new grade in “Layers”" in notice
    assert "<strong>2</strong> questions to answer in “Layers”" in notice
    page = client.get(reverse("grading:index")).content.decode()
    assert 'data-testid="new-grade"' in page  # marked new this once
    notice = client.get(reverse("grading:attention")).content.decode()
    assert "new grade" not in notice and "<strong>2</strong> questions to answer" in notice
    dashboard = client.get(reverse("accounts:dashboard")).content.decode()
    assert reverse("grading:attention") in dashboard


def test_the_teacher_dashboard_shows_grades_awaiting_review_and_flagged_replies(school: School) -> None:
    assignment = make_assignment(school.course, title="Layers")
    for question in assignment.questions.all():
        make_grade(answer(question, school.student))
    client = client_for(school.teacher)

    dashboard = client.get(reverse("accounts:dashboard")).content.decode()
    grading = client.get(reverse("grading:attention")).content.decode()
    tutor = client.get(reverse("tutor:attention")).content.decode()
    other = client_for(school.other_teacher).get(reverse("grading:attention")).content.decode()

    assert reverse("grading:attention") in dashboard and reverse("tutor:attention") in dashboard
    review = reverse("grading:review", args=[assignment.pk])
    assert f'<a href="{review}?status=awaiting_review"><strong>3</strong> grades awaiting review in “Layers”' in grading
    assert "No flagged tutor reply is waiting" in tutor
    assert "Layers" not in other  # another teacher's course
    assert client_for(school.student).get(reverse("tutor:attention")).status_code == 403


def test_the_admin_dashboard_names_failed_jobs(school: School) -> None:
    from django.utils import timezone

    job = Job.objects.create(
        kind="grading.assignment", title="Grade “Layers”", status=Job.Status.FAILED, finished_at=timezone.now()
    )

    dashboard = client_for(school.admin).get(reverse("accounts:dashboard")).content.decode()

    assert "<strong>1</strong> job failed in the last 7 days" in dashboard
    assert reverse("core:job_detail", args=[job.pk]) in dashboard
