from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.factories import PASSWORD, EnrollmentFactory, UserFactory
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db


def test_wrong_password_shows_a_clear_message_and_no_session(school: School) -> None:
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": school.student.username, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_redirects_each_role_to_its_own_dashboard(school: School) -> None:
    expected_titles = {
        school.student: "Hello, ",
        school.teacher: "Teacher dashboard",
        school.admin: "Admin dashboard",
    }
    for user, title in expected_titles.items():
        client = Client()
        response = client.post(
            reverse("accounts:login"), {"username": user.username, "password": PASSWORD}, follow=True
        )
        assert response.redirect_chain[-1][0] == reverse("accounts:dashboard")
        assert title in response.content.decode()


def test_dashboard_requires_login() -> None:
    response = Client().get(reverse("accounts:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_user_without_role_is_told_to_ask_an_admin(db: None) -> None:
    user = UserFactory(role="")
    response = client_for(user).get(reverse("accounts:dashboard"))
    assert response.status_code == 403
    assert "Your account has no role yet" in response.content.decode()


def test_teacher_dashboard_lists_only_taught_courses(school: School) -> None:
    content = client_for(school.teacher).get(reverse("accounts:dashboard")).content.decode()
    assert school.course.name in content
    assert school.other_course.name not in content


def test_student_dashboard_lists_only_enrolled_courses(school: School) -> None:
    EnrollmentFactory(course=school.course)  # a classmate
    content = client_for(school.student).get(reverse("accounts:dashboard")).content.decode()
    assert school.course.name in content
    assert school.other_course.name not in content
    assert "2 students" in content  # the whole class, not just the row that made it visible


def test_student_opening_a_teacher_page_is_refused_with_a_message(school: School) -> None:
    response = client_for(school.student).get(reverse("coaching:index"))
    assert response.status_code == 403
    assert "This page is for admins and teachers only." in response.content.decode()


def test_course_page_of_another_course_is_not_found(school: School) -> None:
    response = client_for(school.teacher).get(reverse("accounts:course_detail", args=[school.other_course.pk]))
    assert response.status_code == 404


def test_teacher_sees_roster_but_student_does_not(school: School) -> None:
    url = reverse("accounts:course_detail", args=[school.course.pk])
    assert school.student.username in client_for(school.teacher).get(url).content.decode()
    student_page = client_for(school.student).get(url)
    assert student_page.status_code == 200
    assert "Students (" not in student_page.content.decode()


def test_unknown_url_gets_the_friendly_404_page(school: School) -> None:
    response = client_for(school.student).get("/no/such/page/")
    assert response.status_code == 404
    assert 'data-testid="error-page"' in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_password_change_then_login_with_the_new_password(school: School) -> None:
    client = client_for(school.student)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "brand-new-Passw0rd!",
            "new_password2": "brand-new-Passw0rd!",
        },
    )
    assert response.status_code == 302
    school.student.refresh_from_db()
    assert school.student.check_password("brand-new-Passw0rd!")


def test_logout_ends_the_session(school: School) -> None:
    client = client_for(school.student)
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("accounts:dashboard")).status_code == 302


def test_dashboard_query_count_does_not_grow_with_courses(school: School, django_assert_max_num_queries) -> None:
    client = client_for(school.admin)
    with django_assert_max_num_queries(12):
        client.get(reverse("accounts:dashboard"))
    for index in range(10):
        from tests.accounts.factories import CourseFactory

        CourseFactory(teachers=[school.teacher], name=f"Extra {index}")
    with django_assert_max_num_queries(12):
        response = client.get(reverse("accounts:dashboard"))
    assert response.content.decode().count('data-testid="course-card"') == 12
    assert User.objects.count() == 5
