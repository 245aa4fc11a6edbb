"""Measuring the dialogue: pass rate of the final questions (every check), rounds, how often the
Teacher-Educator's stop signal ended the dialogue, and the one-shot baseline beside it. Nothing is
stored; the topics come from a JSONL file of {"topic", "concepts", "level", "materials"?}."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.db import connections

from coaching.reflection.checks import checks_pass
from coaching.reflection.dialogue import (
    DialogueOutcome,
    QuestionSpec,
    dialogue_generate,
    dialogue_provenance,
    one_shot_generate,
    question_spec_build,
)
from core.errors import ApplicationError


def topics_read(path: Path, *, max_rounds: int) -> list[QuestionSpec]:
    """Parse the topics file; every problem is reported with its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ApplicationError(f"The topics file {path} could not be read: {error}") from error
    specs, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not an object")
            specs.append(
                question_spec_build(
                    topic=str(row.get("topic", "")),
                    concepts=row.get("concepts") or [],
                    level=str(row.get("level", "")),
                    materials=str(row.get("materials", "") or ""),
                    max_rounds=max_rounds,
                )
            )
        except (ValueError, TypeError) as error:
            problems.append(f"line {number}: not a JSON object ({error})")
        except ApplicationError as error:
            problems.append(f"line {number}: {error.message}")
    if problems:
        raise ApplicationError("The topics file has problems: " + "; ".join(problems[:10]))
    if not specs:
        raise ApplicationError(f"The topics file {path} holds no topics.")
    return specs


def _in_thread(work: Callable[[QuestionSpec], Any]) -> Callable[[QuestionSpec], Any]:
    def run(spec: QuestionSpec) -> Any:
        try:
            return work(spec)
        finally:
            connections.close_all()

    return run


def questions_evaluate(
    specs: list[QuestionSpec],
    *,
    concurrency: int = 4,
    baseline: bool = True,
    details: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the dialogue (and the one-shot baseline) on every topic. Topics run `concurrency` at a time,
    so that the model layer batches their requests. `progress` hears a line per finished topic."""

    def dialogue_reported(spec: QuestionSpec) -> DialogueOutcome:
        outcome = dialogue_generate(spec)
        if progress is not None:
            passes = "passes" if outcome.final_passes_checks else "fails"
            progress(
                f"{spec.topic}: {len(outcome.rounds)} rounds, {outcome.stop_reason}, {outcome.final_source}, {passes}"
            )
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes: list[DialogueOutcome] = list(pool.map(_in_thread(dialogue_reported), specs))
        one_shots = list(pool.map(_in_thread(one_shot_generate), specs)) if baseline else []
    count = len(specs)
    failed_checks: Counter[str] = Counter()
    for outcome in outcomes:
        failed_checks.update(check["name"] for check in outcome.final_checks if not check["passed"])
    model_passing = sum(1 for o in outcomes if o.final_source == "model" and o.final_passes_checks)
    report: dict[str, Any] = {
        "topics": count,
        "pass_rate": round(sum(o.final_passes_checks for o in outcomes) / count, 3),
        "model_written_pass_rate": round(model_passing / count, 3),
        "repaired_share": round(sum(o.final_source == "repair" for o in outcomes) / count, 3),
        "mean_rounds": round(statistics.mean(len(o.rounds) for o in outcomes), 2),
        "stopped_by_signal_share": round(sum(o.stop_reason == "signal" for o in outcomes) / count, 3),
        "first_draft_pass_rate": round(sum(bool(o.rounds) and o.rounds[0].passed for o in outcomes) / count, 3),
        "final_failed_checks": dict(failed_checks),
        "max_rounds": specs[0].max_rounds if specs else 0,
        "provenance": dialogue_provenance(),
    }
    if baseline:
        report["one_shot"] = {
            "pass_rate": round(sum(checks_pass(checks) for _draft, checks, _record in one_shots) / count, 3),
        }
    if details:
        report["items"] = [
            {
                "topic": spec.topic,
                "level": spec.level,
                "final_question": outcome.final_question,
                "final_source": outcome.final_source,
                "passes": outcome.final_passes_checks,
                "rounds": len(outcome.rounds),
                "stop_reason": outcome.stop_reason,
                "drafts": [r.draft for r in outcome.rounds],
                "coaching": [f"{r.coaching_source}: {r.coaching}" for r in outcome.rounds],
                **(
                    {"one_shot": one_shots[index][0], "one_shot_passes": checks_pass(one_shots[index][1])}
                    if baseline
                    else {}
                ),
            }
            for index, (spec, outcome) in enumerate(zip(specs, outcomes, strict=True))
        ]
    return report
