"""Reads of the coaching journey. A teacher sees their own transcripts; an admin sees all; nobody else any."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from accounts.models import Role
from accounts.permissions import user_role
from coaching.analysis import DIMENSIONS, MOVES
from coaching.models import CoachingReport, Transcript, Utterance
from core.errors import NotFoundError


def transcript_list_for_user(*, user: Any) -> QuerySet[Transcript]:
    """The transcripts a user may open: their own (teachers), every one (admins)."""
    role = user_role(user)
    transcripts = (
        Transcript.objects.select_related("teacher", "job", "report")
        .annotate(utterance_count=Count("utterances"))
        .order_by("-lesson_date", "-created_at")  # an aggregate drops Meta.ordering
    )
    if role == Role.ADMIN:
        return transcripts
    if role == Role.TEACHER:
        return transcripts.filter(teacher=user)
    return transcripts.none()


def transcript_get_for_user(*, user: Any, transcript_id: Any) -> Transcript:
    """One transcript, or NotFoundError (a 404) when it is not the user's: another teacher's does not exist."""
    try:
        return transcript_list_for_user(user=user).get(pk=int(transcript_id))
    except (Transcript.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such transcript, or it is not one of yours.") from error


def transcript_utterances(*, transcript: Transcript) -> QuerySet[Utterance]:
    return transcript.utterances.order_by("line")


def report_for(*, transcript: Transcript) -> CoachingReport | None:
    try:
        return transcript.report
    except CoachingReport.DoesNotExist:
        return None


def report_chart_data(*, transcript: Transcript, report: CoachingReport) -> dict[str, Any]:
    """What the report's plotly charts draw: the talk timeline, talk share per segment, moves, uptake."""
    utterances = list(transcript_utterances(transcript=transcript))
    timed = transcript.has_times and all(u.start is not None for u in utterances)
    timeline = [
        {
            "line": u.line,
            "speaker": u.speaker,
            "role": u.role,
            "x": u.start if timed else u.line,
            "width": max(1.0, (u.end - u.start) if timed and u.end is not None and u.start is not None else 1.0)
            if timed
            else 1.0,
            "words": len(u.text.split()),
        }
        for u in utterances
    ]
    counts = report.metrics.get("move_counts", {})
    return {
        "timed": timed,
        "timeline": timeline,
        "segments": [
            {
                "label": f"Part {s['index']} (lines {s['first_line']}–{s['last_line']})",
                "student_share": s["student_talk_share"],
            }
            for s in report.segments
        ],
        "moves": [{"move": label, "count": counts.get(key, 0)} for key, label in MOVES.items() if key != "none"],
        "uptake": [
            {"line": u.line, "uptake": u.uptake, "score": u.uptake_score} for u in utterances if u.uptake is not None
        ],
    }


def teacher_trends(*, user: Any, teacher: Any = None) -> list[dict[str, Any]]:
    """A teacher's analysed lessons in date order with the figures they may want to change.

    `teacher` (admins only) picks another teacher; teachers always get their own.
    """
    transcripts = transcript_list_for_user(user=user).filter(status=Transcript.Status.READY, report__isnull=False)
    if user_role(user) != Role.ADMIN or teacher is None:
        transcripts = transcripts.filter(teacher=user)
    else:
        transcripts = transcripts.filter(teacher=teacher)
    rows = []
    for transcript in transcripts.order_by("lesson_date", "created_at"):
        report = transcript.report
        rows.append(
            {
                "transcript_id": transcript.pk,
                "title": transcript.title,
                "lesson_date": transcript.lesson_date.isoformat(),
                "student_talk_share": report.student_talk_share,
                "mean_uptake": report.mean_uptake,
                "open_question_share": report.open_question_share,
                "pressing_reasoning_rate": report.pressing_reasoning_rate,
                "suggestions": len(report.suggestions),
            }
        )
    return rows


def dimensions_documented() -> list[dict[str, str]]:
    return [{"key": key, "label": label, "description": text} for key, (label, text) in DIMENSIONS.items()]
