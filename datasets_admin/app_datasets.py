"""The rows of the other apps' data sets, read through their selectors only (never their models).

Each builder takes the admin who asks (the selectors filter by who is asking; an admin sees every row)
and returns JSON-able rows. No student or teacher is named: a person is a stable pseudonym within the
data set (``student-3``), so a training set does not carry names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from coaching.reflection.selectors import (
    answer_list_for_assignment,
    assignment_list_for_user,
    dialogue_list_for_user,
)
from coaching.selectors import report_for, transcript_list_for_user, transcript_utterances
from grading.selectors import assignment_list_for_user as grading_assignment_list_for_user
from grading.selectors import grade_queue


class _Pseudonyms:
    """person id -> "<prefix>-<n>", numbered in the order met (stable for one registration)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.known: dict[Any, str] = {}

    def __call__(self, key: Any) -> str | None:
        if key is None:
            return None
        if key not in self.known:
            self.known[key] = f"{self.prefix}-{len(self.known) + 1}"
        return self.known[key]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def graded_answer_rows(*, user: Any) -> Iterator[dict[str, Any]]:
    """Every reviewed grade (approved, overridden or released): the question, the answer, what the grader
    said and what the teacher decided (the teacher's correction when they differ)."""
    students = _Pseudonyms("student")
    for assignment in grading_assignment_list_for_user(user=user):
        for grade in grade_queue(assignment=assignment).order_by("submission__question__position", "pk"):
            if not grade.is_reviewed:
                continue
            submission = grade.submission
            yield {
                "assignment": assignment.title,
                "question": submission.question.text,
                "reference_answers": list(submission.question.reference_answers or []),
                "student": students(submission.student_id),
                "answer": submission.answer_text,
                "label": grade.label,
                "score": _number(grade.score),
                "feedback": grade.feedback,
                "model_label": grade.model_label,
                "model_score": _number(grade.model_score),
                "model_feedback": grade.model_feedback,
                "was_overridden": bool(grade.was_overridden),
                "status": grade.status,
                "provenance": grade.provenance or {},
            }


def coaching_transcript_rows(*, user: Any) -> Iterator[dict[str, Any]]:
    """One row per analysed classroom transcript: its turns (role, text, the analysis of each) and the report."""
    for transcript in transcript_list_for_user(user=user).order_by("pk"):
        report = report_for(transcript=transcript)
        if report is None:
            continue
        speakers = _Pseudonyms("speaker")
        yield {
            "title": transcript.title,
            "lesson_date": transcript.lesson_date.isoformat() if transcript.lesson_date else None,
            "source_format": transcript.source_format,
            "has_times": bool(transcript.has_times),
            "turns": [
                {
                    "line": u.line,
                    "speaker": speakers(u.speaker),
                    "role": u.role,
                    "text": u.text,
                    "start": u.start,
                    "end": u.end,
                    "move": u.move,
                    "question": u.question,
                    "question_style": u.question_style,
                    "uptake": u.uptake,
                    "student_talk": u.student_talk,
                }
                for u in transcript_utterances(transcript=transcript)
            ],
            "analysis": {
                "student_talk_share": report.student_talk_share,
                "mean_uptake": report.mean_uptake,
                "open_question_share": report.open_question_share,
                "pressing_reasoning_rate": report.pressing_reasoning_rate,
                "highlights": report.highlights,
                "missed_opportunities": report.missed_opportunities,
                "suggestions": report.suggestions,
                "metrics": report.metrics,
            },
            "provenance": report.provenance or {},
        }


def reflection_dialogue_rows(*, user: Any) -> Iterator[dict[str, Any]]:
    """Finished reflection-question dialogues: every round's draft, its checks and the coaching."""
    for dialogue in dialogue_list_for_user(user=user).prefetch_related("rounds").order_by("pk"):
        if not dialogue.final_question and not dialogue.rounds.all():
            continue
        yield {
            "course": dialogue.course.name,
            "topic": dialogue.topic,
            "concepts": list(dialogue.concepts or []),
            "level": dialogue.level,
            "status": dialogue.status,
            "rounds": [
                {
                    "number": r.number,
                    "draft": r.draft,
                    "draft_source": r.draft_source,
                    "checks": r.checks,
                    "coaching": r.coaching,
                    "coaching_source": r.coaching_source,
                    "is_stop_signal": bool(r.is_stop_signal),
                    "provenance": r.provenance or {},
                }
                for r in sorted(dialogue.rounds.all(), key=lambda item: item.number)
            ],
            "final_question": dialogue.final_question,
            "final_source": dialogue.final_source,
            "stop_reason": dialogue.stop_reason,
            "provenance": dialogue.provenance or {},
        }


def reflection_answer_rows(*, user: Any) -> Iterator[dict[str, Any]]:
    """Assigned reflection questions and the students' answers to them."""
    students = _Pseudonyms("student")
    for assignment in assignment_list_for_user(user=user):
        for answer in answer_list_for_assignment(user=user, assignment=assignment).order_by("pk"):
            yield {
                "course": assignment.course.name,
                "question": assignment.question.text,
                "question_generated": assignment.question.generated_text,
                "question_rating": assignment.question.rating,
                "due_at": assignment.due_at.isoformat(),
                "student": students(answer.student_id),
                "answer": answer.text,
                "submitted_at": answer.submitted_at.isoformat(),
            }
