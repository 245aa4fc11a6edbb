from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Enrollment
from tests.accounts.factories import PASSWORD, StudentFactory
from tests.conftest import School

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_anonymous_gets_401_in_the_error_format() -> None:
    response = APIClient().get(reverse("api-me"))
    assert response.status_code in (401, 403)
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    }


def test_me_returns_the_role(school: School) -> None:
    assert api_for(school.teacher).get(reverse("api-me")).json()["role"] == "teacher"


def test_token_authentication(school: School) -> None:
    response = APIClient().post(
        reverse("api-token"), {"username": school.student.username, "password": PASSWORD}, format="json"
    )
    token = response.json()["token"]
    assert Token.objects.get(key=token).user == school.student
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(reverse("api-me")).json()["username"] == school.student.username


def test_course_list_is_filtered_by_role_and_paginated(school: School) -> None:
    def codes(user) -> set[str]:
        body = api_for(user).get(reverse("api-course-list")).json()
        assert set(body) == {"count", "next", "previous", "results"}
        return {course["code"] for course in body["results"]}

    assert codes(school.teacher) == {school.course.code}
    assert codes(school.student) == {school.course.code}
    assert codes(school.admin) == {school.course.code, school.other_course.code}


def test_course_detail_of_someone_elses_course_is_404(school: School) -> None:
    response = api_for(school.teacher).get(reverse("api-course-detail", args=[school.other_course.pk]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_teacher_enrols_a_student_in_their_course(school: School) -> None:
    newcomer = StudentFactory()
    response = api_for(school.teacher).post(
        reverse("api-course-students", args=[school.course.pk]),
        {"username": newcomer.username},
        format="json",
    )
    assert response.status_code == 201
    assert Enrollment.objects.filter(course=school.course, student=newcomer).exists()


def test_student_cannot_enrol_anyone_and_nothing_changes(school: School) -> None:
    newcomer = StudentFactory()
    before = Enrollment.objects.count()
    response = api_for(school.student).post(
        reverse("api-course-students", args=[school.course.pk]),
        {"username": newcomer.username},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Only teachers and admins may use this endpoint."
    assert Enrollment.objects.count() == before


def test_teacher_cannot_enrol_into_another_course(school: School) -> None:
    newcomer = StudentFactory()
    response = api_for(school.teacher).post(
        reverse("api-course-students", args=[school.other_course.pk]),
        {"username": newcomer.username},
        format="json",
    )
    assert response.status_code == 404
    assert not Enrollment.objects.filter(student=newcomer).exists()


def test_enrolling_a_teacher_is_a_clear_400(school: School) -> None:
    response = api_for(school.admin).post(
        reverse("api-course-students", args=[school.course.pk]),
        {"username": school.other_teacher.username},
        format="json",
    )
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]
        == f"{school.other_teacher.username} is not a student, so cannot be enrolled."
    )


def test_missing_field_is_named_in_the_error(school: School) -> None:
    response = api_for(school.admin).post(reverse("api-course-students", args=[school.course.pk]), {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "username: This field is required.",
        "fields": {"username": ["This field is required."]},
    }


def test_unknown_api_url_is_json_404(school: School) -> None:
    response = api_for(school.admin).get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_schema_lists_the_endpoints(school: School) -> None:
    response = api_for(school.admin).get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/me/" in paths
    assert "/api/courses/{course_id}/students/" in paths
