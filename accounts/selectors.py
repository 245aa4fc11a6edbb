"""Reads of users, courses and enrolments, always filtered by who is asking."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from accounts.models import Course, Role, User
from accounts.permissions import course_list_visible
from core.errors import NotFoundError


def course_list_for_user(*, user: Any) -> QuerySet[Course]:
    # Count over all enrolments, not just the rows the visibility filter joined (a student's own).
    return (
        Course.objects.filter(pk__in=course_list_visible(user=user).values("pk"))
        .annotate(student_count=Count("enrollments", distinct=True))
        .prefetch_related("teachers")
        .order_by("name")
    )


def course_get_for_user(*, user: Any, course_id: Any) -> Course:
    try:
        return course_list_for_user(user=user).get(pk=course_id)
    except (Course.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such course, or it is not one of yours.") from error


def course_student_list(*, course: Course) -> QuerySet[User]:
    return User.objects.filter(enrollments__course=course).order_by("last_name", "first_name", "username")


def user_counts_by_role() -> dict[str, int]:
    counts = dict.fromkeys(Role.values, 0)
    for row in User.objects.values("role").annotate(n=Count("id")):
        if row["role"] in counts:
            counts[row["role"]] = row["n"]
    return counts
