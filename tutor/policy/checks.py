"""The checks every reply passes, the policy's own text included: no answer given away, the plan's polarity,
well-formed sentences whose numbers are the problem's or the student's."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor.policy.messages import has_phrase
from tutor.policy.numbers import contains_number, format_number, number_mentions, numbers_in, same_number
from tutor.policy.sentences import affirms, ill_formed_reason, negates, sentences_of
from tutor.policy.solution import ProblemFacts

ANSWER_PHRASES = (
    "the answer is",
    "answer is",
    "the final answer",
    "final answer is",
    "correct answer",
    "the right answer",
    "the solution is",
    "the result is",
    "the total is",
)
_ANSWER_SIGN_RE = re.compile(r"\banswer\s*[:=]", re.IGNORECASE)


def forbidden_values_for(
    facts: ProblemFacts, *, known_steps: set[int], is_telling_allowed: bool, revealed: Sequence[float] = ()
) -> list[float]:
    """Numbers a reply must not state now: the final answer and the decisive intermediate results,
    unless the student has already stated them or the plan reveals them as a last resort."""
    forbidden: list[float] = []
    final = facts.final_step
    if facts.answer_value is not None and (final is None or final.index not in known_steps):
        forbidden.append(facts.answer_value)
    for value in facts.decisive_values:
        step = facts.step_for_value(value)
        if step is not None and step.index in known_steps:
            continue
        forbidden.append(value)
    if is_telling_allowed:
        forbidden = [value for value in forbidden if not contains_number(revealed, value)]
    return forbidden


def reply_violation(
    text: str, *, forbidden_values: Sequence[float], is_telling_allowed: bool, facts: ProblemFacts | None = None
) -> str | None:
    """Why this reply must not reach the student, or None. The code check every reply passes."""
    for mention in number_mentions(text):
        if contains_number(forbidden_values, mention.value):
            if facts is not None and same_number(mention.value, facts.answer_value):
                return "states the final answer"
            return "states a decisive intermediate result"
    if is_telling_allowed:
        return None
    if has_phrase(text, ANSWER_PHRASES) or _ANSWER_SIGN_RE.search(text):
        return "announces an answer"
    if facts is not None and facts.answer_value is None and facts.final_answer.lower() in text.lower():
        return "states the final answer"
    return None


def polarity_violation(sentence: str, *, confirmed_values: Sequence[float], is_solved: bool) -> str | None:
    """A reply that confirms must not negate, and one that does not confirm must not affirm.

    "No, 480 is not correct, well done." for a right answer, or "Yes, that's right" to a wrong one, never
    reach a student. Affirming a step names the result that is right ("Yes, 15 is right."), so that praise
    for one step never reads as praise for a wrong answer in the same message.
    """
    values = numbers_in(sentence)
    if is_solved and negates(sentence):
        return "a confirmation that negates"
    if any(contains_number(confirmed_values, value) for value in values) and negates(sentence):
        return "negates a result that is right"
    if affirms(sentence):
        if not confirmed_values:
            return "affirms what the student has not got right"
        wrong = [value for value in values if not contains_number(confirmed_values, value)]
        if wrong and not sentence.rstrip().endswith("?"):
            return f"affirms {format_number(wrong[0])}, which is not a right result"
        if not is_solved and not values:
            return "affirms without naming the result that is right"
    return None


def text_violation(
    text: str,
    *,
    facts: ProblemFacts,
    forbidden_values: Sequence[float],
    is_telling_allowed: bool,
    confirmed_values: Sequence[float] = (),
    is_solved: bool = False,
) -> str | None:
    """The checks every sentence passes, the policy's own included: safe, and with the plan's polarity."""
    found = reply_violation(text, forbidden_values=forbidden_values, is_telling_allowed=is_telling_allowed, facts=facts)
    if found:
        return found
    for sentence in sentences_of(text):
        found = polarity_violation(sentence, confirmed_values=confirmed_values, is_solved=is_solved)
        if found:
            return found
    return None


def plan_text_violation(
    text: str,
    *,
    facts: ProblemFacts,
    forbidden_values: Sequence[float],
    is_telling_allowed: bool,
    confirmed_values: Sequence[float] = (),
    is_solved: bool = False,
    student_text: str = "",
) -> str | None:
    """The gate's checks on the policy's own text: whole, well-formed sentences with the right polarity, and
    every number one of the problem's, the worked solution's, or the student's own (quoted, asked about)."""
    found = text_violation(
        text,
        facts=facts,
        forbidden_values=forbidden_values,
        is_telling_allowed=is_telling_allowed,
        confirmed_values=confirmed_values,
        is_solved=is_solved,
    )
    if found:
        return found
    known = [*facts.statement_values, *numbers_in(facts.worked_solution), *numbers_in(student_text)]
    for sentence in sentences_of(text):
        found = ill_formed_reason(sentence)
        if found:
            return found
        for value in numbers_in(sentence):
            if not contains_number(known, value):
                return f"a number ({format_number(value)}) that is not in the problem or the student's message"
    return None
