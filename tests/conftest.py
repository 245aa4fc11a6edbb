from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.models import Course, User
from tests.accounts.factories import (
    PASSWORD,
    AdminFactory,
    CourseFactory,
    EnrollmentFactory,
    StudentFactory,
    TeacherFactory,
)


@dataclass
class School:
    """Two courses, each with its own teacher and student, and an admin over both."""

    admin: User
    teacher: User
    other_teacher: User
    student: User
    other_student: User
    course: Course
    other_course: Course


@pytest.fixture
def school(db: None) -> School:
    teacher = TeacherFactory()
    other_teacher = TeacherFactory()
    course = CourseFactory(teachers=[teacher])
    other_course = CourseFactory(teachers=[other_teacher])
    student = StudentFactory()
    other_student = StudentFactory()
    EnrollmentFactory(course=course, student=student)
    EnrollmentFactory(course=other_course, student=other_student)
    return School(
        admin=AdminFactory(),
        teacher=teacher,
        other_teacher=other_teacher,
        student=student,
        other_student=other_student,
        course=course,
        other_course=other_course,
    )


def client_for(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client
