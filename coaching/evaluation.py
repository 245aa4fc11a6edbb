"""The suggestion check measured over lessons: how many candidate suggestions the redundancy check drops, how
many remain per lesson, and whether every quote is verbatim. Lessons are built from the NCTE layout: each
observation's exchanges in `exchange_idx` order, a student turn and the teacher's reply each."""

from __future__ import annotations

from collections import defaultdict
from statistics import mean
from typing import Any

from coaching.analysis import Turn, lesson_analyse, suggestion_is_redundant
from coaching.services import _uptake_pairs
from coaching.uptake import UptakeExchange


def lessons_from_exchanges(exchanges: list[UptakeExchange], *, min_exchanges: int) -> dict[str, list[Turn]]:
    by_observation: dict[str, list[UptakeExchange]] = defaultdict(list)
    for exchange in exchanges:
        by_observation[exchange.obs_id].append(exchange)
    lessons = {}
    for obs_id, items in sorted(by_observation.items()):
        if len(items) < min_exchanges:
            continue
        turns: list[Turn] = []
        for exchange in sorted(items, key=lambda e: e.exchange_idx):
            turns.append(Turn(len(turns) + 1, "Student", "student", " ".join(exchange.student_text.split())))
            turns.append(Turn(len(turns) + 1, "Teacher", "teacher", " ".join(exchange.teacher_text.split())))
        lessons[obs_id] = turns
    return lessons


def suggestions_evaluate(exchanges: list[UptakeExchange], *, min_exchanges: int = 20) -> dict[str, Any]:
    """Per lesson: candidates, redundant before filtering, kept, and a recheck of the kept ones."""
    per_lesson = []
    for obs_id, turns in lessons_from_exchanges(exchanges, min_exchanges=min_exchanges).items():
        analysis = lesson_analyse(turns, uptake=_uptake_pairs)
        check = analysis.metrics["suggestion_check"]
        text_of = {t.line: t.text for t in turns}
        moments = analysis.highlights + analysis.missed_opportunities + analysis.suggestions
        per_lesson.append(
            {
                "obs_id": obs_id,
                "turns": len(turns),
                "candidates": check["candidates"],
                "redundant": check["redundant"],
                "kept": check["kept"],
                "kept_redundant": sum(
                    1
                    for s in analysis.suggestions
                    if suggestion_is_redundant(s, turns, analysis.utterances, analysis.segments)
                ),
                "quotes_verbatim": all(m.quote in text_of[m.line] for m in moments),
            }
        )
    if not per_lesson:
        return {"lessons": 0}
    candidates = sum(row["candidates"] for row in per_lesson)
    return {
        "lessons": len(per_lesson),
        "redundant_share_before_filtering": round(sum(row["redundant"] for row in per_lesson) / candidates, 3)
        if candidates
        else 0.0,
        "suggestions_per_lesson_mean": round(mean(row["kept"] for row in per_lesson), 2),
        "suggestions_per_lesson_min": min(row["kept"] for row in per_lesson),
        "lessons_with_at_least_3": sum(1 for row in per_lesson if row["kept"] >= 3),
        "kept_redundant": sum(row["kept_redundant"] for row in per_lesson),
        "all_quotes_verbatim": all(row["quotes_verbatim"] for row in per_lesson),
        "per_lesson": per_lesson,
    }
