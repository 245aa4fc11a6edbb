"""Writes of the tutor: the problem bank, course settings, sessions, turns and teachers' flags."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Course, Role
from accounts.permissions import course_is_taught_by, user_role
from core.errors import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from tutor.importers import ProblemImportError, problem_rows_parse
from tutor.models import Problem, Turn, TutorSession, TutorSettings
from tutor.policy.dialogue import STUDENT, DialogueTurn
from tutor.policy.plan import plan_to_dict
from tutor.policy.planning import reply_plan
from tutor.policy.solution import ProblemFacts


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


# --- problem bank -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    created: int
    skipped: int
    titles: list[str]


def _require_teaching(*, course: Course, user: Any) -> None:
    if user is not None and not course_is_taught_by(course=course, user=user):
        raise PermissionDeniedError("Only the course's teachers and admins may change its problems.")


def problems_import(
    *,
    course: Course,
    data: bytes,
    filename: str = "",
    file_format: str = "auto",
    is_assigned: bool = False,
    user: Any = None,
) -> ImportReport:
    """Import a problem file into a course's bank: all rows or none.

    A problem whose title is already in the bank with the same statement is skipped (importing the
    same file twice changes nothing); the same title with another statement is an error.
    """
    _require_teaching(course=course, user=user)
    rows = problem_rows_parse(data=data, filename=filename, file_format=file_format)
    existing = {problem.title: problem for problem in Problem.objects.filter(course=course)}
    problems = [
        f"{row.where}: “title” “{row.title}” is already in this course's bank with a different statement."
        for row in rows
        if row.title in existing and existing[row.title].statement != row.statement
    ]
    if problems:
        raise ProblemImportError(problems)
    created: list[str] = []
    with transaction.atomic():
        for row in rows:
            if row.title in existing:
                continue
            try:
                problem_create(
                    course=course,
                    title=row.title,
                    statement=row.statement,
                    worked_solution=row.worked_solution,
                    final_answer=row.final_answer,
                    misconceptions=row.misconceptions,
                    is_assigned=is_assigned if row.is_assigned is None else row.is_assigned,
                    source=row.source,
                )
            except ApplicationError as error:
                raise ProblemImportError([f"{row.where}: {error.message}"]) from error
            created.append(row.title)
    return ImportReport(created=len(created), skipped=len(rows) - len(created), titles=created)


def problem_assign_set(*, problem: Problem, is_assigned: bool, user: Any = None) -> Problem:
    _require_teaching(course=problem.course, user=user)
    problem.is_assigned = is_assigned
    problem.save(update_fields=["is_assigned"])
    return problem


def tutor_settings_for(*, course: Course) -> TutorSettings:
    """The course's settings; the defaults (unsaved) when a teacher has not changed them."""
    found = TutorSettings.objects.filter(course=course).first()
    return found if found is not None else TutorSettings(course=course)


def tutor_settings_update(
    *, course: Course, attempts_before_telling: int, allows_step_hints: bool | None = None, user: Any = None
) -> TutorSettings:
    """Change how the tutor tells in a course (`allows_step_hints=None` keeps what is set)."""
    _require_teaching(course=course, user=user)
    row = tutor_settings_for(course=course)
    row.attempts_before_telling = attempts_before_telling
    if allows_step_hints is not None:
        row.allows_step_hints = allows_step_hints
    try:
        row.full_clean()
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    row.save()
    return row


# --- sessions and turns -----------------------------------------------------------------------------
MAX_MESSAGE_CHARS = 2000


def problem_facts(problem: Problem) -> ProblemFacts:
    return ProblemFacts.build(
        statement=problem.statement, worked_solution=problem.worked_solution, final_answer=problem.final_answer
    )


def session_dialogue(session: TutorSession) -> list[DialogueTurn]:
    return [
        DialogueTurn(speaker=turn.speaker, text=turn.text if turn.is_complete else turn.planned_text, move=turn.move)
        for turn in session.turns.all()
    ]


def session_start(*, student: Any, problem: Problem) -> tuple[TutorSession, bool]:
    """Open a session on an assigned problem of the student's course, or resume the open one.

    Returns (session, created).
    """
    if user_role(student) != Role.STUDENT:
        raise PermissionDeniedError("Only students work on problems with the tutor.")
    if not problem.is_assigned or not problem.course.enrollments.filter(student=student).exists():
        raise NotFoundError("No such problem, or it is not assigned in your courses.")
    existing = TutorSession.objects.filter(student=student, problem=problem, status=TutorSession.Status.OPEN).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return TutorSession.objects.create(student=student, problem=problem), True
    except IntegrityError:
        # Two tabs pressed "start" together: the other one made it; resume that.
        return TutorSession.objects.get(student=student, problem=problem, status=TutorSession.Status.OPEN), False


def session_abandon(*, session: TutorSession, student: Any) -> TutorSession:
    if session.student_id != getattr(student, "pk", None):
        raise NotFoundError("No such session, or it is not yours.")
    updated = TutorSession.objects.filter(pk=session.pk, status=TutorSession.Status.OPEN).update(
        status=TutorSession.Status.ABANDONED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    if not updated:
        raise ConflictError("This session is already finished.")
    session.refresh_from_db()
    return session


def _messages_per_minute() -> int:
    configured = getattr(settings, "TUTOR_MESSAGES_PER_MINUTE", None)
    if configured:
        return int(configured)
    framework: dict[str, Any] = settings.REST_FRAMEWORK
    rate = (framework.get("DEFAULT_THROTTLE_RATES") or {}).get("model") or "30/min"
    count, _, period = str(rate).partition("/")
    per_seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(period[:1], 60)
    return max(1, round(int(count) * 60 / per_seconds))


def _rate_limit_take(*, student: Any) -> None:
    """Protect the model: a student may send a few messages a minute (a fixed window in the cache)."""
    limit = _messages_per_minute()
    window = int(time.time() // 60)
    key = f"tutor:messages:{student.pk}:{window}"
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=90)
        count = 1
    if count > limit:
        wait = 60 - int(time.time() % 60)
        raise RateLimitedError(
            f"You are sending messages too fast: at most {limit} a minute. Wait {wait} seconds, then send it again."
        )


class RateLimitedError(ApplicationError):
    status_code = 429
    code = "rate_limited"


def turn_student_create(*, session: TutorSession, student: Any, text: str) -> tuple[Turn, Turn]:
    """Store a student's message and the tutor's pending reply, choosing its move, in one transaction.

    The reply's text is written later by the stream (tutor.replies); the move, the code-written
    fallback, the flag and the session's status are decided here, by the policy, in code.
    Returns (student turn, pending tutor turn).
    """
    if session.student_id != getattr(student, "pk", None):
        raise NotFoundError("No such session, or it is not yours.")
    text = (text or "").strip()
    if not text:
        raise ApplicationError("Write a message first: say what you tried or what you think.", code="empty_message")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ApplicationError(
            f"Your message is {len(text):,} characters long; keep it under {MAX_MESSAGE_CHARS:,}.",
            code="message_too_long",
        )
    if not session.is_open:
        raise ConflictError(
            f"This session is {session.get_status_display().lower()}; start a new one to try again.",
            code="session_closed",
        )
    _rate_limit_take(student=student)
    with transaction.atomic():
        locked = TutorSession.objects.select_for_update().select_related("problem").get(pk=session.pk)
        if not locked.is_open:
            raise ConflictError("This session is already finished.", code="session_closed")
        if locked.turns.filter(status__in=[Turn.Status.PENDING, Turn.Status.GENERATING]).exists():
            raise ConflictError("Wait for the tutor's reply before you send another message.", code="reply_pending")
        dialogue = [*session_dialogue(locked), DialogueTurn(speaker=STUDENT, text=text)]
        course_settings = tutor_settings_for(course=locked.problem.course)
        plan = reply_plan(
            facts=problem_facts(locked.problem),
            dialogue=dialogue,
            attempts_before_telling=course_settings.attempts_before_telling,
            allows_step_hints=course_settings.allows_step_hints,
            student_name=student.first_name or "",
        )
        now = timezone.now()
        student_turn = Turn.objects.create(
            session=locked,
            speaker=Turn.Speaker.STUDENT,
            text=text,
            is_flagged=bool(plan.flag),
            flag_reason=plan.flag,
            flagged_at=now if plan.flag else None,
        )
        reply = Turn.objects.create(
            session=locked,
            speaker=Turn.Speaker.TUTOR,
            move=plan.move,
            status=Turn.Status.PENDING,
            reply_to=student_turn,
            planned_text=plan.text,
            provenance={"policy": plan_to_dict(plan), "inputs": {"student_turn": student_turn.pk}},
        )
        locked.attempts = plan.attempts
        fields = ["attempts", "updated_at"]
        if plan.is_solved:
            locked.status = (
                TutorSession.Status.SOLVED_AFTER_REVEAL if locked.is_answer_revealed else TutorSession.Status.SOLVED
            )
            locked.finished_at = now
            fields += ["status", "finished_at"]
        locked.save(update_fields=fields)
    session.refresh_from_db()
    return student_turn, reply


def turn_flag(*, turn: Turn, teacher: Any, is_flagged: bool = True, better_reply: str = "") -> Turn:
    """A teacher marks a tutor turn as bad and writes the reply they would have given: a training pair."""
    if turn.speaker != Turn.Speaker.TUTOR:
        raise ApplicationError("Only the tutor's replies can be flagged.", code="not_a_tutor_turn")
    _require_teaching(course=turn.session.problem.course, user=teacher)
    if user_role(teacher) not in (Role.TEACHER, Role.ADMIN):
        raise PermissionDeniedError("Only teachers flag the tutor's replies.")
    better_reply = (better_reply or "").strip()
    if len(better_reply) > MAX_MESSAGE_CHARS:
        raise ApplicationError(f"Keep the better reply under {MAX_MESSAGE_CHARS:,} characters.", code="too_long")
    if not is_flagged and better_reply:
        raise ApplicationError("A better reply goes with a flag: tick “flag” too.", code="invalid")
    turn.is_flagged = is_flagged
    turn.better_reply = better_reply if is_flagged else ""
    turn.flagged_by = teacher if is_flagged else None
    turn.flagged_at = timezone.now() if is_flagged else None
    turn.flag_reason = "teacher" if is_flagged else ""
    turn.save(update_fields=["is_flagged", "better_reply", "flagged_by", "flagged_at", "flag_reason", "updated_at"])
    return turn
