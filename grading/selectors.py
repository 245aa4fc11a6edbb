"""Reads of assignments, questions and submissions, filtered by who is asking."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.permissions import queryset_visible
from grading.models import Assignment, Question, Submission


def assignment_list_for_user(*, user: Any) -> QuerySet[Assignment]:
    assignments = queryset_visible(Assignment.objects.all(), user=user, course_path="course")
    own_answers = queryset_visible(
        Submission.objects.filter(is_current=True),
        user=user,
        course_path="question__assignment__course",
        owner_path="student",
    )
    return (
        assignments.select_related("course")
        .annotate(
            question_count=Count("questions", distinct=True),
            answer_count=Count(
                "questions__submissions", filter=Q(questions__submissions__in=own_answers), distinct=True
            ),
        )
        .prefetch_related(Prefetch("questions", queryset=Question.objects.order_by("position", "pk")))
        .order_by("course__name", "title")
    )
