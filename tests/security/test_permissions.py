"""Issue 16, item 6: only admins retrain the school-wide grader; the enrol API tells a teacher
nothing about which usernames exist or what role they have."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Enrollment
from core.models import Job
from tests.accounts.factories import StudentFactory
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db


def test_a_teacher_cannot_start_the_grader_retraining(school: School) -> None:
    response = client_for(school.teacher).post(reverse("grading:grader_retrain"))
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_an_admin_starts_the_grader_retraining(school: School) -> None:
    response = client_for(school.admin).post(reverse("grading:grader_retrain"))
    job = Job.objects.get()
    assert response.status_code == 302
    assert (job.kind, job.created_by) == ("grading.retrain", school.admin)


def _enrol(user, course, username: str):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(reverse("api-course-students", args=[course.pk]), {"username": username}, format="json")


def test_the_enrol_api_answers_a_teacher_alike_for_unknown_users_and_other_roles(school: School) -> None:
    answers = {
        username: _enrol(school.teacher, school.course, username)
        for username in ("nobody-here", school.other_teacher.username, school.admin.username)
    }
    for username, response in answers.items():
        assert response.status_code == 404, username
        assert response.json() == {
            "error": {"code": "not_found", "message": f"No student account is called “{username}”."}
        }
    assert not Enrollment.objects.filter(course=school.course).exclude(student=school.student).exists()


def test_a_teacher_still_enrols_a_student(school: School) -> None:
    newcomer = StudentFactory()
    assert _enrol(school.teacher, school.course, newcomer.username).status_code == 201
    assert Enrollment.objects.filter(course=school.course, student=newcomer).exists()


def test_removing_someone_not_enrolled_says_the_same_whoever_they_are(school: School) -> None:
    client = APIClient()
    client.force_authenticate(school.teacher)
    for username in ("nobody-here", school.other_teacher.username, school.other_student.username):
        response = client.delete(reverse("api-course-student-delete", args=[school.course.pk, username]))
        assert response.status_code == 404
        assert response.json()["error"]["message"] == f"No student called “{username}” is enrolled in this course."
    assert Enrollment.objects.filter(course=school.other_course, student=school.other_student).exists()
