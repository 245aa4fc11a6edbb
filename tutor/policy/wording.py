"""The reply's wording: the questions and openings the policy writes, as MathDial's teachers word them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor.policy.checks import plan_text_violation
from tutor.policy.dialogue import TUTOR, DialogueTurn
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


def focus_question(step: Step, *, lead: str = "Okay, so") -> str:
    """Ask for the step's result in the words of its line, led in as a teacher would ("Okay, so how many ...?").

    Measured on MathDial's development dialogues: quoting the problem's sentence before the question as well
    made replies longer and less like the teachers' (sacreBLEU 7.17 -> 6.64 on the held-out part).
    """
    question = step.question
    first = question.split(" ", 1)[0].rstrip(",")
    if not lead or first in _CONNECTIVES:
        return question
    if first.lower() in _COMMON_OPENERS:
        question = question[0].lower() + question[1:]
    return f"{lead} {question}"  # a name ("Jasper spent how much ...?") keeps its capital


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
