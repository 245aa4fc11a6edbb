"""Writes to users, courses and enrolments."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.authentication import token_is_expired
from accounts.models import Course, Enrollment, Role, User
from core.errors import ApplicationError

ROLE_CHOICES_TEXT = "student, teacher or admin"


def _check_role(role: str) -> str:
    if role not in Role.values:
        if not role:
            raise ApplicationError(f"Choose a role for the account: {ROLE_CHOICES_TEXT}.", code="role_missing")
        raise ApplicationError(f"Unknown role “{role}”: choose {ROLE_CHOICES_TEXT}.", code="role_invalid")
    return role


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, email: str = "", first_name: str = "", last_name: str = ""
) -> User:
    _check_role(role)
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    try:
        # The same validators as the password-change page (settings.AUTH_PASSWORD_VALIDATORS).
        validate_password(password, user=user)
    except ValidationError as error:
        raise ApplicationError(
            "; ".join(error.messages), code="password_invalid", extra={"fields": {"password": error.messages}}
        ) from error
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def token_issue(*, user: User) -> Token:
    """The user's API token: the current one while it is valid, a new one once it has expired."""
    token, created = Token.objects.select_for_update().get_or_create(user=user)
    if not created and token_is_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


def token_delete_for_user(*, user: User) -> int:
    """Sign the user out of the API: their token stops working at once. Returns how many were deleted."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


@transaction.atomic
def user_role_set(*, user: User, role: str) -> User:
    user.role = _check_role(role)
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    return user


@transaction.atomic
def course_create(*, code: str, name: str, description: str = "", teachers: list[User] | None = None) -> Course:
    course = Course(code=code, name=name, description=description)
    try:
        course.full_clean()
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    course.save()
    for teacher in teachers or []:
        course_teacher_add(course=course, teacher=teacher)
    return course


def course_teacher_add(*, course: Course, teacher: User) -> None:
    if teacher.effective_role != Role.TEACHER:
        raise ApplicationError(f"{teacher.username} is not a teacher, so cannot teach a course.")
    course.teachers.add(teacher)


def enrollment_create(*, course: Course, student: User) -> Enrollment:
    """Enrol a student; enrolling twice is harmless and returns the existing enrolment."""
    if student.role != Role.STUDENT:
        raise ApplicationError(f"{student.username} is not a student, so cannot be enrolled.")
    enrollment, _created = Enrollment.objects.get_or_create(course=course, student=student)
    return enrollment


def enrollment_delete(*, course: Course, student: User) -> None:
    deleted, _ = Enrollment.objects.filter(course=course, student=student).delete()
    if not deleted:
        raise ApplicationError(f"{student.username} is not enrolled in {course}.", code="not_found")
