"""Reads of the problem bank, filtered by who is asking."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.permissions import queryset_visible, user_role
from tutor.models import Problem


def problem_list_for_user(*, user: Any) -> QuerySet[Problem]:
    problems = queryset_visible(Problem.objects.all(), user=user, course_path="course").select_related("course")
    if user_role(user) == "student":
        problems = problems.filter(is_assigned=True)
    return problems.order_by("course__name", "title")
