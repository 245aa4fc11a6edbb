"""Writes to the problem bank."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Course
from core.errors import ApplicationError
from tutor.models import Problem


@transaction.atomic
def problem_create(
    *,
    course: Course,
    title: str,
    statement: str,
    worked_solution: str,
    final_answer: str,
    misconceptions: list[str] | None = None,
    is_assigned: bool = False,
    source: str = "",
) -> Problem:
    missing = [
        name
        for name, value in (
            ("title", title),
            ("statement", statement),
            ("worked_solution", worked_solution),
            ("final_answer", final_answer),
        )
        if not (value or "").strip()
    ]
    if missing:
        raise ApplicationError(f"The problem is missing: {', '.join(missing)}.", code="problem_incomplete")
    problem = Problem(
        course=course,
        title=title.strip(),
        statement=statement.strip(),
        worked_solution=worked_solution.strip(),
        final_answer=final_answer.strip(),
        misconceptions=misconceptions or [],
        is_assigned=is_assigned,
        source=source,
    )
    try:
        problem.full_clean()
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    problem.save()
    return problem
