"""Diagnosis of a student's worked solution: which steps are right, and the first one that is wrong or missing.

Pure functions (no Django, no model). The student's steps are aligned with the worked solution's in order:
a step of the worked solution is reached when its result is among the student's numbers; the first step
that is not reached is where the student's work leaves the solution. If the student wrote a calculation
for that step (one that uses the step's numbers, or the first calculation whose result is in no step), its
result is the wrong number to ask about; otherwise the step is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tutor.policy.numbers import EQUATION_RE, contains_number, number_mentions, numbers_in, parse_number, same_number
from tutor.policy.solution import ProblemFacts, Step


@dataclass(frozen=True)
class Diagnosis:
    right_steps: tuple[Step, ...]  # reached, before the first wrong one: what to praise
    first_wrong: Step | None  # the first step of the worked solution the student did not reach
    kind: Literal["wrong", "missing", "none"]  # "none": every step reached
    student_value: float | None = None  # what the student got for that step, when they wrote it
    student_expression: str = ""


def _student_calculations(text: str) -> list[tuple[str, float, list[float]]]:
    found = []
    for match in EQUATION_RE.finditer(text):
        result = parse_number(match.group("result"))
        if result is not None:
            expression = " ".join(match.group("expression").split())
            found.append((expression, result, numbers_in(expression, words=False)))
    return found


def solution_diagnose(facts: ProblemFacts, text: str, *, known_steps: set[int] | None = None) -> Diagnosis:
    """Align what the student wrote with the worked solution and find the first wrong or missing step.

    `known_steps` are steps the student reached earlier in the dialogue (they count as reached). The final
    step counts as reached only when its result is the student's answer, not a number met on the way.
    """
    known = set(known_steps or ())
    values = numbers_in(text)
    final = facts.final_step
    reached: list[Step] = []
    first_wrong: Step | None = None
    for step in facts.steps:
        is_final = final is not None and step.index == final.index
        hit = step.index in known or (contains_number(values, step.result) and not is_final)
        if is_final and not hit:
            mentions = number_mentions(text)
            hit = bool(mentions) and same_number(mentions[-1].value, step.result)
        if hit:
            reached.append(step)
            continue
        first_wrong = step
        break
    if first_wrong is None:
        return Diagnosis(right_steps=tuple(reached), first_wrong=None, kind="none")
    calculations = _student_calculations(text)
    wrong = [item for item in calculations if facts.step_for_value(item[1]) is None]
    earlier = [step.result for step in reached]
    # Their calculation for this step: one on the step's own numbers (or on the results before it), else the
    # first of their calculations that lands in no step.
    aligned = next(
        (
            item
            for item in wrong
            if any(contains_number(item[2], operand) for operand in first_wrong.operands)
            or any(contains_number(item[2], value) for value in earlier)
        ),
        wrong[0] if wrong else None,
    )
    if aligned is not None:
        expression, result, _ = aligned
        return Diagnosis(
            right_steps=tuple(reached),
            first_wrong=first_wrong,
            kind="wrong",
            student_value=result,
            student_expression=expression,
        )
    stray = [
        value
        for value in values
        if facts.step_for_value(value) is None and not contains_number(facts.statement_values, value)
    ]
    if stray:
        return Diagnosis(right_steps=tuple(reached), first_wrong=first_wrong, kind="wrong", student_value=stray[0])
    return Diagnosis(right_steps=tuple(reached), first_wrong=first_wrong, kind="missing")


def first_wrong_step_label(facts: ProblemFacts, solution: str) -> int | None:
    """The gold label of `evaluate_tutor --mode diagnosis`, written from the data alone: the index of the
    first step of the worked solution whose result is not among the numbers of the student's solution
    (the final step: not its last number). None when every step is there."""
    values = numbers_in(solution)
    lines = [line for line in solution.strip().splitlines() if line.strip()]
    last = numbers_in(lines[-1]) if lines else []
    for step in facts.steps:
        final = facts.final_step
        if final is not None and step.index == final.index:
            if not (last and same_number(last[-1], step.result)):
                return step.index
            continue
        if not contains_number(values, step.result):
            return step.index
    return None


def first_wrong_step_by_order(facts: ProblemFacts, solution: str) -> int | None:
    """A second label, aligned by position instead of by value: the i-th calculation the student wrote against
    the i-th step of the worked solution; the first whose result differs (or that is missing) is the label."""
    theirs = [result for _, result, _ in _student_calculations(solution)]
    for step in facts.steps:
        if step.index >= len(theirs) or not same_number(theirs[step.index], step.result):
            return step.index
    return None
