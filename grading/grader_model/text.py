"""Answer and question text: cleaning, blank answers, question identity, tokens, key-point segments."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from grading.grader_model.config import MAX_TEXT_CHARS, GradingExample

# Placeholders that mean "no answer" (SAF has "No submission." and "No response").
_BLANK_ANSWERS = {"no submission", "no response", "no answer", "n/a", "not answered"}
_ALNUM = re.compile(r"\w")


def _clean(text: str) -> str:
    return (text or "")[:MAX_TEXT_CHARS].strip()


def _is_blank(answer: str) -> bool:
    return " ".join(answer.lower().split()).rstrip(".!") in _BLANK_ANSWERS or not _ALNUM.search(answer)


# How a question is recognised as one the grader has graded answers of. Scheme 2 (since 2026-11-30): by
# its text alone (case and spacing aside), so the same question keeps its graded neighbours whatever it is
# called: a SAF file's stem, a course's "question-17", next year's copy of it in another course. Scheme 1,
# the id and the text, is what graders trained before read their banks with.
QUESTION_KEY_SCHEME = 2


def _question_text(question: str) -> str:
    return " ".join(_clean(question).lower().split())


def question_text_key(question: str) -> str:
    """A question's identity for its graded neighbours and feedback examples: its text, case and spacing aside."""
    return hashlib.sha1(f"question\x1f{_question_text(question)}".encode(), usedforsecurity=False).hexdigest()


def _question_key(example: GradingExample, scheme: int = QUESTION_KEY_SCHEME) -> str:
    if scheme == 1:
        key = f"{example.question_id}\x1f{_question_text(example.question)}"
        return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    return question_text_key(example.question)


_STOPWORDS = frozenset(
    """a an the of to in on for and or is are was were be been being it its this that these those with as by
    at from which who whom what when where why how than then there their they them he she we you i me my our
    your his her not no yes can could would should will shall may might must do does did done have has had
    having so such if else also into about over under between each every any all some more most less least
    very just only same other both either neither because while during before after up down out off again
    further once here s t""".split()  # noqa: SIM905 - a word list reads better as text
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*")
_NEGATION = re.compile(
    r"\b(not|no|never|none|cannot|can't|don't|doesn't|isn't|aren't|won't|without|neither|nor)\b", re.IGNORECASE
)
_SEGMENT = re.compile(r"(?<=[.!?;:])\s+|\n+|\s+(?=\d[.)]\s)|\s+(?=[-•●○]\s)|\s+(?=\(\d\))")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    return [_stem(w) for w in _TOKEN.findall(text.lower())]


def _content(tokens: list[str]) -> list[str]:
    return [w for w in tokens if w not in _STOPWORDS and len(w) > 1]


def _segments(text: str) -> list[str]:
    # Reference answers list their key points as sentences, numbered items or bullets.
    parts = [p.strip(" -•●○\t") for p in _SEGMENT.split(text) if p and len(p.strip()) > 2]
    return parts or [text]
