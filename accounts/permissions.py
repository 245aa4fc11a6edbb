"""The one permission layer. Every app filters what it shows through these helpers.

- A student sees only their own work in the courses they are enrolled in.
- A teacher sees the courses they teach and everything in them.
- An admin sees everything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Course, Role

M = TypeVar("M", bound=Model)
ViewFunc = Callable[..., HttpResponse]

TEACHING_ROLES = frozenset({Role.TEACHER, Role.ADMIN})


def user_role(user: Any) -> str:
    if not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "effective_role", ""))


def role_required(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    """Decorate a page view: signed-in users of these roles only; others get the 403 page."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            role = user_role(request.user)
            if not role:
                raise PermissionDenied("Your account has no role yet. Ask an administrator to give you one.")
            if role not in roles:
                raise PermissionDenied(f"This page is for {_role_words(roles)} only.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _role_words(roles: tuple[str, ...] | frozenset[str]) -> str:
    names = [Role(role).label.lower() + "s" for role in sorted(roles)]
    return " and ".join(names)


def course_list_visible(*, user: Any) -> QuerySet[Course]:
    """The courses a user may open."""
    role = user_role(user)
    courses = Course.objects.all()
    if role == Role.ADMIN:
        return courses
    if role == Role.TEACHER:
        return courses.filter(teachers=user)
    if role == Role.STUDENT:
        return courses.filter(enrollments__student=user)
    return courses.none()


def course_is_taught_by(*, course: Course, user: Any) -> bool:
    role = user_role(user)
    if role == Role.ADMIN:
        return True
    return role == Role.TEACHER and course.teachers.filter(pk=user.pk).exists()


def queryset_visible(
    queryset: QuerySet[M], *, user: Any, course_path: str, owner_path: str | None = None
) -> QuerySet[M]:
    """Filter any queryset of course content by who is asking.

    `course_path` leads from the model to its Course (e.g. "question__assignment__course");
    `owner_path` leads to the student who owns a row (e.g. "student"), for students' own work.
    Rows with an owner are shown to students only when they own them; rows without one
    (assignments, problems) are shown to the students enrolled in the course.
    """
    role = user_role(user)
    if role == Role.ADMIN:
        return queryset
    if role == Role.TEACHER:
        return queryset.filter(**{f"{course_path}__teachers": user}).distinct()
    if role == Role.STUDENT:
        enrolled = Q(**{f"{course_path}__enrollments__student": user})
        if owner_path:
            enrolled &= Q(**{owner_path: user})
        return queryset.filter(enrolled).distinct()
    return queryset.none()


class HasRole(BasePermission):
    """DRF permission: the caller is signed in and has one of `roles`."""

    roles: frozenset[str] = frozenset()
    message = "Your role may not use this endpoint."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_role(request.user) in self.roles


class IsStudent(HasRole):
    roles = frozenset({Role.STUDENT})
    message = "Only students may use this endpoint."


class IsTeacher(HasRole):
    roles = frozenset({Role.TEACHER})
    message = "Only teachers may use this endpoint."


class IsTeacherOrAdmin(HasRole):
    roles = TEACHING_ROLES
    message = "Only teachers and admins may use this endpoint."


class IsAdminRole(HasRole):
    roles = frozenset({Role.ADMIN})
    message = "Only admins may use this endpoint."


class HasAnyRole(HasRole):
    roles = frozenset({Role.STUDENT, Role.TEACHER, Role.ADMIN})
    message = "Your account has no role yet. Ask an administrator to give you one."
