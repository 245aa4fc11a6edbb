"""The reply's wording: the questions and openings the policy writes, as MathDial's teachers word them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor.policy.checks import plan_text_violation
from tutor.policy.dialogue import TUTOR, DialogueTurn
from tutor.policy.messages import content_words
from tutor.policy.numbers import contains_number, numbers_in
from tutor.policy.sentences import ill_formed_reason, sentences_of
from tutor.policy.solution import ProblemFacts, Step, step_after

_OPERATION_RE = re.compile(r"^\s*\$?(?P<a>[\d.,]+)[^\d]*?(?P<op>[-+*/x×÷–])\s*\$?(?P<b>[\d.,]+)\D*$")


def why_question(expression: str) -> str:
    """Ask for the reasoning behind one calculation, as a teacher would: "Why did you subtract 3 from 12?"."""
    match = _OPERATION_RE.match(expression)
    if match is None:
        return f"Can you explain why you worked out {expression}?"
    a, op, b = match.group("a"), match.group("op"), match.group("b")
    if op == "+":
        return f"Why did you add {a} and {b}?"
    if op in "-–":
        return f"Why did you subtract {b} from {a}?"
    if op in "*x×":
        return f"Why did you multiply {a} by {b}?"
    return f"Why did you divide {a} by {b}?"


def last_tutor_text(dialogue: Sequence[DialogueTurn]) -> str:
    return next((turn.text.strip() for turn in reversed(dialogue) if turn.speaker == TUTOR), "")


def first_name(name: str) -> str:
    return name.strip().split(" ")[0] if name.strip() else ""


def invitation(name: str, *, anonymous: str) -> str:
    """The usual MathDial opening: ask the student to explain their solution."""
    greeting = f"Hi {name}, could you" if name else anonymous
    return f"{greeting} please walk me through your solution?"


def focus_question(
    step: Step,
    *,
    facts: ProblemFacts | None = None,
    student_text: str = "",
    forbidden: Sequence[float] = (),
    lead: str = "Okay, so",
) -> str:
    """Ask for the step's result in the words of its line, led in as a teacher would ("Okay, so how many ...?").

    Where the student's last message says something true that the step builds on, the question takes it up as
    its condition, as MathDial's teachers do ("If Adelaide bought 30 ducks, Ephraim bought how many ducks?"):
    the student's own words, with only the problem's numbers and right
    results, never the step's calculation or its result. Measured on MathDial's development dialogues:
    quoting the problem's sentence before the question made replies longer and less like the teachers'
    (sacreBLEU 7.17 -> 6.64 on the held-out part); taking up the student's words scored higher (see
    tutor/README.md).
    """
    question = step.question
    first = question.split(" ", 1)[0].rstrip(",")
    given = uptake_clause(step, facts, student_text, forbidden=forbidden) if facts is not None and lead else None
    bare = _CONNECTIVE_RE.sub("", question)
    if given is not None and facts is not None and _reads_after_a_condition(bare):
        if not _is_name(bare.split(" ", 1)[0].rstrip(",'s"), facts.statement):
            bare = bare[0].lower() + bare[1:]
        if given.split(" ", 1)[0].lower() in _COMMON_OPENERS:
            given = given[0].lower() + given[1:]
        text = f"If {given}, {bare}"
        if ill_formed_reason(text) is None and not _repeats_itself(given, bare):
            return text
    if not lead or first in _CONNECTIVES:
        return question
    if first.lower() in _COMMON_OPENERS:
        question = question[0].lower() + question[1:]
    return f"{lead} {question}"  # a name ("Jasper spent how much ...?") keeps its capital


UPTAKE_WORDS = 8  # longer clauses made replies less like the teachers' (development dialogues)
_CLAUSE_RE = re.compile(r"[,;]\s+|\s+(?:and|but|while)\s+")
_NOT_A_CLAUSE_START = frozenset("and so but then which that or if because since while to of for in how what".split())  # noqa: SIM905
_CONNECTIVE_RE = re.compile(r"^(?:so|thus|therefore|then|and|now|finally|hence)\b,?\s*", re.IGNORECASE)
_FIRST_PERSON_RE = re.compile(r"\b(?:I|I'm|I've|me|my|we)\b")
_OWN_CONDITION = frozenset("since if when as because while unless".split())  # noqa: SIM905
_HYPOTHETICAL_RE = re.compile(r"\b(?:would|could|should|might|maybe|probably)\b", re.IGNORECASE)
# Words a clause or a question may start with after "If ...,": pronouns, articles and question words.
_AFTER_A_CONDITION = frozenset(
    "the a an each every it there he she they his her its their this that these those how what which who".split()  # noqa: SIM905
)


def _is_name(word: str, statement: str) -> bool:
    """A capitalised word the problem uses inside a sentence ("... as many as Marvin"): a name, not an opener."""
    return word[:1].isupper() and re.search(rf"[a-z,]\s+{re.escape(word)}\b", statement) is not None


def _reads_after_a_condition(question: str) -> bool:
    """Whether "If <clause>, <question>" reads as one sentence: not when the question has a condition of its own
    ("Since the husband bought ..., then ...?") or is the plain fallback."""
    word = question.split(" ", 1)[0].rstrip(",")
    return not question.startswith("What number do you get") and word.lower() not in _OWN_CONDITION


def _repeats_itself(given: str, question: str) -> bool:
    words = {word.lower() for word in re.findall(r"[A-Za-z]{3,}", given)}
    return bool(words) and len(words & {word.lower() for word in re.findall(r"[A-Za-z]{3,}", question)}) >= 0.8 * len(
        words
    )


def _said_of_what_it_is(clause: str, values: Sequence[float], facts: ProblemFacts) -> bool:
    """Whether each number of the clause is said of what the problem or the worked solution says it is: most of
    the clause's words are in one clause of the statement, or one line of the solution, that holds the number."""
    words = content_words(clause)
    names = {word for word in re.findall(r"[A-Z][a-z]+", clause) if _is_name(word, facts.statement)}
    sources = [
        part
        for text in (*sentences_of(facts.statement), *(step.line for step in facts.steps))
        for part in _CLAUSE_RE.split(text)
    ]
    return all(
        any(
            contains_number(numbers_in(source), value)
            and len(words & content_words(source)) >= 0.6 * len(words)
            and all(name in source for name in names)  # said of the same one
            for source in sources
        )
        for value in values
    )


def uptake_clause(step: Step, facts: ProblemFacts, student_text: str, *, forbidden: Sequence[float] = ()) -> str | None:
    """The shortest clause of the student's message that states a true fact the step builds on, or None.

    True as far as numbers tell: it holds one of the step's numbers, and every number in it is the problem's or
    a result of the worked solution; not the step's result, nothing the reply may not state, no calculation,
    and not about the student ("I got ..."), so that the tutor never repeats a claim as if it were given.
    """
    right = [*facts.statement_values, *(known.result for known in facts.steps)]
    best: str | None = None
    for sentence in sentences_of(student_text):
        if sentence.endswith("?"):
            continue
        for part in _CLAUSE_RE.split(sentence.rstrip(".!")):
            clause = part.strip()
            words = clause.split()
            if not 3 <= len(words) <= UPTAKE_WORDS or not clause[:1].isalpha():
                continue
            if words[0].lower() in _NOT_A_CLAUSE_START or _FIRST_PERSON_RE.search(clause) or "=" in clause:
                continue
            if not (words[0].lower() in _AFTER_A_CONDITION or _is_name(words[0], facts.statement)):
                continue  # "After donating ...", "cooking from ...": not a statement of a fact
            if _HYPOTHETICAL_RE.search(clause):
                continue
            values = numbers_in(clause)
            if not any(contains_number(values, value) for value in step.operands):
                continue
            if not all(contains_number(right, value) for value in values) or contains_number(values, step.result):
                continue
            if any(contains_number(forbidden, value) for value in values):
                continue
            if not _said_of_what_it_is(clause, values, facts):
                continue  # "Adelaide bought 15 ducks": a right number, said of the wrong thing
            if best is None or len(clause) < len(best):
                best = clause
    return best


# Words a worked solution's sentence starts with that are not names: lowercased after "Okay, so".
_COMMON_OPENERS = frozenset(
    """what how which who whose when where why is are was were does do did can could will would the a an each
    every his her their its this that these those there he she they it we you one two three four five six seven
    eight nine ten half double twice after before altogether together in on at for from to with by of all both
    total""".split()  # noqa: SIM905 - a word list reads better as text
)
_CONNECTIVES = frozenset({"So", "Since", "If", "Then", "Therefore", "Thus", "And", "But", "Now", "Okay", "Finally"})
_LEAD_RE = re.compile(r"^(?:Okay|So),?\s+(?:so\s+)?(?=\w)")


def without_lead(question: str) -> str:
    """ "Okay, so what was ...?" -> "What was ...?": the question alone, to follow someone else's words."""
    bare = _LEAD_RE.sub("", question, count=1)
    return bare[:1].upper() + bare[1:]


def nudge(facts: ProblemFacts, target: Step | None) -> str:
    if target is not None:
        return target.question
    return "Which step of your working are you least sure about?"


def _safe(text: str, forbidden: Sequence[float], *, is_telling_allowed: bool, facts: ProblemFacts) -> bool:
    return (
        plan_text_violation(text, forbidden_values=forbidden, is_telling_allowed=is_telling_allowed, facts=facts)
        is None
    )


def safe_probing_reply(facts: ProblemFacts, *, known_steps: set[int], forbidden: Sequence[float]) -> str:
    """The reply that replaces one caught stating the answer: a question grounded in the problem."""
    target = step_after(facts, known_steps)
    candidates = []
    if target is not None:
        candidates += [
            f"Let's not jump to the end. Can you recompute this step yourself? {target.question}",
            f"Let's check one step at a time. {target.question}",
        ]
    candidates.append("Let's go back to your working. Which calculation are you least sure about, and can you redo it?")
    for text in candidates:
        if _safe(text, forbidden, is_telling_allowed=False, facts=facts):
            return text
    return candidates[-1]
