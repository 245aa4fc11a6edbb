from __future__ import annotations

from typing import Any

from django import template

from coaching.analysis import MOVES

register = template.Library()

QUESTION_WORDS = {"open": "open question", "closed": "closed question"}
STUDENT_WORDS = {"reasoning": "gives reasoning", "short_answer": "short answer"}


@register.filter
def move_label(move: str) -> str:
    return MOVES.get(move, move.replace("_", " ").capitalize() if move else "")


@register.filter
def percent(value: Any) -> str:
    if value is None or value == "":
        return "–"
    return f"{round(100 * float(value))}%"


@register.filter
def utterance_note(utterance: Any) -> str:
    """The analysis of one turn in words, shown on hover (title) and in the line's details."""
    parts = []
    if utterance.role == "teacher":
        if utterance.move and utterance.move != "none":
            parts.append(f"Talk move: {MOVES.get(utterance.move, utterance.move)}")
        if utterance.question:
            style = f", {utterance.question_style}" if utterance.question_style else ""
            parts.append(f"{QUESTION_WORDS.get(utterance.question, utterance.question).capitalize()}{style}")
        if utterance.uptake is not None:
            parts.append(f"Uptake {utterance.uptake} of 2")
        if utterance.wait_seconds is not None:
            parts.append(f"Wait time {utterance.wait_seconds:g} s")
        if not parts:
            parts.append("No talk move")
    elif utterance.student_talk:
        parts.append(f"Student: {STUDENT_WORDS.get(utterance.student_talk, utterance.student_talk)}")
    return " · ".join(parts)


@register.filter
def clock(seconds: Any) -> str:
    if seconds is None:
        return ""
    total = int(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
