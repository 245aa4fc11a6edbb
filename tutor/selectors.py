"""Reads of the tutor: problems, sessions, turns and teachers' figures, filtered by who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Course
from accounts.permissions import course_list_visible, queryset_visible, user_role
from core.errors import NotFoundError
from tutor.models import Problem, Turn, TutorSession


def problem_list_for_user(*, user: Any) -> QuerySet[Problem]:
    problems = queryset_visible(Problem.objects.all(), user=user, course_path="course").select_related("course")
    if user_role(user) == "student":
        problems = problems.filter(is_assigned=True)
    return problems.order_by("course__name", "title")


def problem_get_for_user(*, user: Any, problem_id: Any) -> Problem:
    try:
        return problem_list_for_user(user=user).get(pk=problem_id)
    except (Problem.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such problem, or it is not open to you.") from error


def course_list_for_tutor(*, user: Any) -> QuerySet[Course]:
    return course_list_visible(user=user).order_by("name").distinct()


def session_list_for_user(
    *, user: Any, course_id: Any = None, problem_id: Any = None, student_id: Any = None
) -> QuerySet[TutorSession]:
    """Students see their own sessions; teachers those of their courses; admins all."""
    sessions = queryset_visible(
        TutorSession.objects.all(), user=user, course_path="problem__course", owner_path="student"
    )
    if course_id:
        sessions = sessions.filter(problem__course_id=course_id)
    if problem_id:
        sessions = sessions.filter(problem_id=problem_id)
    if student_id:
        sessions = sessions.filter(student_id=student_id)
    return (
        TutorSession.objects.filter(pk__in=sessions.values("pk"))
        .select_related("student", "problem__course")
        .annotate(
            turn_count=Count("turns", distinct=True),
            tutor_turn_count=Count("turns", filter=Q(turns__speaker=Turn.Speaker.TUTOR), distinct=True),
            # Every told step counts: telling turns, and replies that gave a step's calculation away.
            telling_count=Count(
                "turns",
                filter=Q(turns__move=Turn.Move.TELLING) | Q(turns__provenance__policy__tells_step=True),
                distinct=True,
            ),
            flagged_count=Count("turns", filter=Q(turns__is_flagged=True), distinct=True),
        )
        .order_by("-started_at", "-id")
    )


def session_get_for_user(*, user: Any, session_id: Any) -> TutorSession:
    try:
        return (
            session_list_for_user(user=user)
            .prefetch_related(Prefetch("turns", queryset=Turn.objects.select_related("flagged_by")))
            .get(pk=session_id)
        )
    except (TutorSession.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such session, or it is not yours.") from error


def turn_get_for_user(*, user: Any, turn_id: Any) -> Turn:
    visible = queryset_visible(
        Turn.objects.all(), user=user, course_path="session__problem__course", owner_path="session__student"
    )
    try:
        return Turn.objects.select_related("session__problem__course", "session__student", "reply_to").get(
            pk__in=visible.values("pk"), pk=turn_id
        )
    except (Turn.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such reply, or it is not yours.") from error


# --- teachers' figures ---------------------------------------------------------------------------
@dataclass
class SessionFigures:
    """Solved rate, turns to solve and how often the tutor told, over a group of sessions."""

    label: str
    key: Any = None
    sessions: int = 0
    solved: int = 0
    solved_after_reveal: int = 0
    with_telling: int = 0
    answer_revealed: int = 0
    tutor_turns_when_solved: list[int] = field(default_factory=list)

    def add(self, session: TutorSession) -> None:
        self.sessions += 1
        if session.status == TutorSession.Status.SOLVED:
            self.solved += 1
        if session.status == TutorSession.Status.SOLVED_AFTER_REVEAL:
            self.solved_after_reveal += 1
        if session.is_solved:
            self.tutor_turns_when_solved.append(getattr(session, "tutor_turn_count", 0))
        if getattr(session, "telling_count", 0):
            self.with_telling += 1
        if session.is_answer_revealed:
            self.answer_revealed += 1

    @property
    def solved_rate(self) -> float | None:
        return (self.solved + self.solved_after_reveal) / self.sessions if self.sessions else None

    @property
    def solved_alone_rate(self) -> float | None:
        return self.solved / self.sessions if self.sessions else None

    @property
    def telling_rate(self) -> float | None:
        return self.with_telling / self.sessions if self.sessions else None

    @property
    def revealed_rate(self) -> float | None:
        return self.answer_revealed / self.sessions if self.sessions else None

    @property
    def turns_to_solve(self) -> float | None:
        turns = self.tutor_turns_when_solved
        return sum(turns) / len(turns) if turns else None


@dataclass
class TutorFigures:
    overall: SessionFigures
    by_problem: list[SessionFigures]
    by_student: list[SessionFigures]


def session_figures(*, user: Any, course_id: Any = None) -> TutorFigures:
    """Per problem and per student: solved rate, tutor turns to solve, how often the tutor told."""
    overall = SessionFigures(label="All sessions")
    by_problem: dict[int, SessionFigures] = {}
    by_student: dict[int, SessionFigures] = {}
    for session in session_list_for_user(user=user, course_id=course_id):
        overall.add(session)
        by_problem.setdefault(
            session.problem_id, SessionFigures(label=session.problem.title, key=session.problem_id)
        ).add(session)
        by_student.setdefault(
            session.student_id, SessionFigures(label=session.student.display_name, key=session.student_id)
        ).add(session)
    return TutorFigures(
        overall=overall,
        by_problem=sorted(by_problem.values(), key=lambda figures: figures.label),
        by_student=sorted(by_student.values(), key=lambda figures: figures.label),
    )


# --- exports --------------------------------------------------------------------------------------
SELF_CORRECTNESS: dict[str, str] = {
    TutorSession.Status.SOLVED: "Yes",
    TutorSession.Status.SOLVED_AFTER_REVEAL: "Yes, but I had to reveal the answer",
    TutorSession.Status.OPEN: "No",
    TutorSession.Status.ABANDONED: "No",
}


def _conversation(turns: list[Turn]) -> str:
    parts = []
    for turn in turns:
        if turn.speaker == Turn.Speaker.TUTOR:
            parts.append(f"Teacher: ({turn.move}){turn.text}")
        else:
            parts.append(f"Student: {turn.text}")
    return "|EOM|".join(parts)


def session_export_rows(*, user: Any, course_id: Any = None) -> Iterator[dict[str, Any]]:
    """Sessions in the MathDial layout (one JSON object per session), with the teachers' better replies."""
    sessions = session_list_for_user(user=user, course_id=course_id).prefetch_related(
        Prefetch("turns", queryset=Turn.objects.filter(status=Turn.Status.COMPLETE))
    )
    for session in sessions:
        turns = list(session.turns.all())
        first_student = next((turn.text for turn in turns if turn.speaker == Turn.Speaker.STUDENT), "")
        yield {
            "qid": f"tutorloop-{session.problem_id}",
            "session": session.pk,
            "scenario": session.pk,
            "question": session.problem.statement,
            "ground_truth": session.problem.worked_solution,
            "student_incorrect_solution": first_student,
            "student_profile": "",
            "teacher_described_confusion": "; ".join(session.problem.misconceptions or []),
            "self-correctness": SELF_CORRECTNESS.get(session.status, "No"),
            "self-typical-confusion": "",
            "self-typical-interactions": "",
            "conversation": _conversation(turns),
            "status": session.status,
            "attempts": session.attempts,
            "student": session.student.username,
            "started_at": session.started_at.isoformat(),
            "better_replies": [
                {"turn": turn.pk, "position": index, "move": turn.move, "reply": turn.text, "better": turn.better_reply}
                for index, turn in enumerate(turns)
                if turn.is_flagged and turn.speaker == Turn.Speaker.TUTOR and turn.better_reply
            ],
        }


def training_pair_rows(*, user: Any, course_id: Any = None) -> Iterator[dict[str, Any]]:
    """Each flagged tutor reply with the teacher's better one and the dialogue before it."""
    flagged = Turn.objects.filter(is_flagged=True, speaker=Turn.Speaker.TUTOR).exclude(better_reply="")
    sessions = (
        session_list_for_user(user=user, course_id=course_id)
        .filter(pk__in=flagged.values("session_id"))
        .prefetch_related(Prefetch("turns", queryset=Turn.objects.filter(status=Turn.Status.COMPLETE)))
    )
    for session in sessions:
        turns = list(session.turns.all())
        for index, turn in enumerate(turns):
            if not (turn.is_flagged and turn.speaker == Turn.Speaker.TUTOR and turn.better_reply):
                continue
            yield {
                "session": session.pk,
                "turn": turn.pk,
                "question": session.problem.statement,
                "ground_truth": session.problem.worked_solution,
                "context": _conversation(turns[:index]),
                "move": turn.move,
                "rejected": turn.text,
                "chosen": turn.better_reply,
                "provenance": turn.provenance.get("model_version", ""),
                "flagged_by": turn.flagged_by.username if turn.flagged_by else "",
            }


def better_reply_count() -> int:
    """Better replies teachers wrote for flagged tutor turns, across the school: what the tutor's model learns from."""
    return Turn.objects.filter(speaker=Turn.Speaker.TUTOR, is_flagged=True).exclude(better_reply="").count()


def turn_flagged_waiting_count(*, user: Any) -> int:
    """Flagged tutor replies in the sessions this user may read that still lack a teacher's better reply."""
    sessions = session_list_for_user(user=user).values("pk")
    return (
        Turn.objects.filter(session__in=sessions, speaker=Turn.Speaker.TUTOR, is_flagged=True, better_reply="")
        .order_by()
        .count()
    )


@dataclass(frozen=True)
class TutorNotice:
    """One line of a student's "new for you": a count, what it is, and where to go."""

    count: int
    text: str
    url: str


def notices_for_student(*, student: Any) -> list[TutorNotice]:
    """Problems assigned to the student that they have not opened yet, one line per course."""
    from django.urls import reverse

    started = TutorSession.objects.filter(student=student).values("problem_id")
    rows = (
        Problem.objects.filter(pk__in=problem_list_for_user(user=student).values("pk"))
        .exclude(pk__in=started)
        .values("course__name")
        .annotate(count=Count("pk"))
        .order_by("course__name")
    )
    url = reverse("tutor:index")
    return [
        TutorNotice(
            count=row["count"],
            text=f"new tutor problem{'s' if row['count'] != 1 else ''} to try in “{row['course__name']}”",
            url=url,
        )
        for row in rows
    ]


def reply_corrections() -> list[dict[str, Any]]:
    """Every flagged tutor reply a teacher rewrote, with what it was written from (the stored plan, the student's
    message, the problem) and both replies: the distillation loop's tutor corrections (issue 23). Replies with
    no stored plan (written before plans were stored) are left out."""
    flagged = (
        Turn.objects.filter(speaker=Turn.Speaker.TUTOR, is_flagged=True)
        .exclude(better_reply="")
        .select_related("session__problem", "reply_to")
        .order_by("pk")
    )
    rows = []
    for turn in flagged:
        plan = (turn.provenance or {}).get("policy")
        if not isinstance(plan, dict) or turn.reply_to is None:
            continue
        problem = turn.session.problem
        rows.append(
            {
                "turn_id": turn.pk,
                "problem_id": problem.pk,
                "statement": problem.statement,
                "worked_solution": problem.worked_solution,
                "final_answer": problem.final_answer,
                "student_message": turn.reply_to.text,
                "plan": plan,
                "machine_reply": turn.text,
                "better_reply": turn.better_reply,
            }
        )
    return rows
