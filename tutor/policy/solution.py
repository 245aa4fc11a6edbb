"""The worked solution as the policy reads it: its steps ("He cuts off 50/5=10 feet"), the questions that ask
for a step without stating it, and what the policy knows of a problem (`ProblemFacts`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tutor.policy.numbers import (
    EQUATION_RE,
    contains_number,
    format_number,
    number_mentions,
    numbers_in,
    parse_number,
    same_number,
)
from tutor.policy.sentences import ill_formed_reason

_COPULA_RE = re.compile(r"^(?P<subject>.+?)\s+(?P<verb>is|was|are|were|will be|would be)$", re.IGNORECASE)
_DANGLING_RE = re.compile(
    r"(?:\s+\b(?:because|since|so|and|or|but|which|that|of|to|is|are|was|were|as|than|for|with|by|from|the|a|an))+$",
    re.IGNORECASE,
)
_CLAUSE_SPLIT_RE = re.compile(r"(?:,|;|:|\bso\b|\bthen\b|\btherefore\b|\bthus\b|\bwhich means\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    """One calculation of the worked solution: "He cuts off 50/5=10 feet"."""

    index: int
    line: str
    expression: str
    result: float
    start: int  # where "expression = result" begins in the line
    end: int

    @property
    def masked_line(self) -> str:
        """The line with its calculation and result hidden: what a focus question may quote."""
        masked = f"{self.line[: self.start].rstrip()} … {self.line[self.end :].lstrip()}".strip()
        for mention in reversed(number_mentions(masked, words=False)):
            if same_number(mention.value, self.result):
                masked = masked[: mention.start] + "…" + masked[mention.end :]
        return masked.rstrip(" .")

    @property
    def question(self) -> str:
        """A question asking for this step's result without stating it."""
        prefix = _CLAUSE_SPLIT_RE.split(self.line[: self.start].strip())[-1].strip()
        match = _COPULA_RE.match(prefix)
        if match and _is_noun_phrase(match.group("subject")):
            subject = match.group("subject")
            first, _, rest = subject.partition(" ")
            if first in ("The", "A", "An", "Double", "Half", "Each", "Every", "His", "Her", "Their", "Its"):
                subject = f"{first.lower()} {rest}"
            question = f"What {match.group('verb').lower()} {subject}?"
            if ill_formed_reason(question) is None:
                return question
        question = self.gap_question()
        if ill_formed_reason(question) is None:
            return question
        # The line does not make a sentence to complete ("... which?"): ask for the step plainly.
        return "What number do you get for this step?"

    def gap_question(self) -> str:
        """The step's sentence asking for the hidden result: "So he has how many feet left?"."""
        masked = self.masked_line
        at = masked.find("…")
        after = masked[at + 1 :].lstrip()
        before = masked[:at].rstrip()
        if not after and before.endswith((":", "=")) and len(before.split()) >= 3:
            # "Then add two to find how many she had before: …" is an instruction, not a sentence to complete.
            return f"{before.rstrip(':= ').strip()}. What do you get?"
        asking = self._asking(after)
        clause = masked
        if len(masked.split()) > 25:
            # A long sentence: keep the clause with the gap, and what follows it.
            clause = _CLAUSE_SPLIT_RE.split(masked[:at])[-1].strip() + " …" + masked[at + 1 :]
        question = clause.replace("…", asking, 1).strip().rstrip(".")
        if "…" in question:
            # The result is mentioned again later in the sentence ("... because …"): end before it.
            question = _DANGLING_RE.sub("", question[: question.index("…")].rstrip(" ,;:-"))
        if at == 0 and self.start == 0:
            # "100/2 = 50 people in the theater have brown eyes." -> "How many people in the theater have brown eyes?"
            rest = masked[1:].strip().rstrip(".")
            if re.match(r"[A-Za-z]", rest) and "…" not in rest and len(rest.split()) <= 20:
                return f"{asking.capitalize()} {rest}?"
        if at == 0 or not question:
            return "What number do you get for this step?"
        return question[0].upper() + question[1:] + "?"

    def calculation_question(self) -> str:
        """The step's sentence asking for the result of its calculation: "He caught 300*2 = how many pounds of tuna?".

        A stronger hint than `question` (it names the calculation, never its result): MathDial's teachers
        point at the calculation this way more often than they ask for a result in words.
        """
        before = self.line[: self.start].rstrip()
        after = self.line[self.end :].strip()
        for mention in reversed(number_mentions(after, words=False)):
            if same_number(mention.value, self.result):
                after = _DANGLING_RE.sub("", after[: mention.start].rstrip(" ,;:-"))
        asking = self._asking(after)
        question = " ".join(part for part in (before, f"{self.expression} = {asking}", after.rstrip(".!?")) if part)
        question = question[0].upper() + question[1:] + "?"
        if ill_formed_reason(question) is not None:
            return f"What is {self.expression}?"
        return question

    def _asking(self, after: str) -> str:
        """ "how much" for money or when no unit follows the gap, else "how many"."""
        is_money = "$" in self.line[self.start : self.end].split("=")[-1]
        return "how much" if is_money or not after[:1].isalpha() else "how many"

    @property
    def operands(self) -> list[float]:
        return numbers_in(self.expression, words=False)


# A clause whose subject holds one of these is not "<noun phrase> is": "this means there would be",
# "Counting all the animals shows there are", "and butterfly is".
_NOT_A_SUBJECT = frozenset({"means", "meaning", "shows", "show", "showing", "there"})
_NOT_A_SUBJECT_START = frozenset({"and", "or", "but", "so", "then", "this", "that", "it", "counting", "adding"})


def _is_noun_phrase(subject: str) -> bool:
    words = subject.lower().split()
    return (
        len(words) >= 2
        and not number_mentions(subject)
        and words[0] not in _NOT_A_SUBJECT_START
        and not _NOT_A_SUBJECT.intersection(words)
    )


def solution_steps(worked_solution: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for raw_line in worked_solution.splitlines():
        line = raw_line.strip()
        for match in EQUATION_RE.finditer(line):
            result = parse_number(match.group("result"))
            if result is None:
                continue
            steps.append(
                Step(
                    index=len(steps),
                    line=line,
                    expression=" ".join(match.group("expression").split()),
                    result=result,
                    start=match.start(),
                    end=match.end(),
                )
            )
    return tuple(steps)


def final_answer_from_solution(worked_solution: str) -> str:
    """GSM8K and MathDial end the worked solution with a line holding only the answer ("\\n 10")."""
    lines = [line.strip() for line in worked_solution.strip().splitlines() if line.strip()]
    if lines and parse_number(lines[-1]) is not None and len(lines[-1].split()) <= 3:
        return lines[-1].lstrip("#").strip()
    values = numbers_in(worked_solution, words=False)
    return format_number(values[-1]) if values else ""


@dataclass(frozen=True)
class ProblemFacts:
    """What the policy knows of a problem: its text, its steps and its answer."""

    statement: str
    worked_solution: str
    final_answer: str
    steps: tuple[Step, ...] = ()
    answer_value: float | None = None

    @classmethod
    def build(cls, *, statement: str, worked_solution: str, final_answer: str) -> ProblemFacts:
        return cls(
            statement=statement,
            worked_solution=worked_solution,
            final_answer=final_answer.strip(),
            steps=solution_steps(worked_solution),
            answer_value=parse_number(final_answer),
        )

    @property
    def final_step(self) -> Step | None:
        if not self.steps:
            return None
        for step in reversed(self.steps):
            if same_number(step.result, self.answer_value):
                return step
        return self.steps[-1]

    @property
    def decisive_values(self) -> list[float]:
        """Intermediate results that give the answer away: those the final step is computed from.

        If the final step only uses numbers of the statement, the result just before it counts.
        """
        final = self.final_step
        if final is None:
            return []
        earlier = [step.result for step in self.steps if step.index < final.index]
        used = [value for value in final.operands if contains_number(earlier, value)]
        if used:
            return used
        return earlier[-1:] if earlier else []

    @property
    def statement_values(self) -> list[float]:
        return numbers_in(self.statement)

    def step_for_value(self, value: float) -> Step | None:
        for step in self.steps:
            if same_number(step.result, value):
                return step
        return None

    def steps_for_value(self, value: float) -> list[Step]:
        return [step for step in self.steps if same_number(step.result, value)]


def step_after(facts: ProblemFacts, known: set[int]) -> Step | None:
    for step in facts.steps:
        if step.index not in known:
            return step
    return None
