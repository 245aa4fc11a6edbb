"""What a student's message is (an attempt, numbers, a request for the answer, off topic, abusive, ...), the
answer it puts forward, and the calculations in it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from tutor.policy.numbers import (
    EQUATION_RE,
    contains_number,
    expression_value,
    format_number,
    number_mentions,
    parse_number,
    same_number,
)
from tutor.policy.solution import ProblemFacts

ABUSIVE_WORDS = (
    "idiot",
    "stupid",
    "dumb",
    "moron",
    "shut up",
    "hate you",
    "fuck",
    "fucking",
    "shit",
    "bitch",
    "bastard",
    "asshole",
    "damn you",
    "loser",
    "useless bot",
    "kill yourself",
    "suck",
    "sucks",
)
MANIPULATION_PHRASES = (
    "ignore",
    "previous instructions",
    "your instructions",
    "your rules",
    "system prompt",
    "you are now",
    "pretend",
    "act as",
    "developer mode",
    "jailbreak",
    "forget everything",
    "new rules",
    "override",
)
ANSWER_REQUEST_PHRASES = (
    "tell me the answer",
    "give me the answer",
    "what is the answer",
    "what's the answer",
    "whats the answer",
    "just tell me",
    "just give me",
    "reveal the answer",
    "the final answer",
    "tell me the solution",
    "show me the solution",
    "give me the solution",
)
CONFUSED_PHRASES = (
    "don't know",
    "dont know",
    "do not know",
    "not sure",
    "no idea",
    "confused",
    "don't understand",
    "dont understand",
    "don't get",
    "stuck",
    "help",
    "hint",
    "lost",
    "why",
    "how",
    "what",
    "explain",
    "idk",
)
OFF_TOPIC_WORDS = (
    "game",
    "games",
    "minecraft",
    "fortnite",
    "football",
    "soccer",
    "movie",
    "movies",
    "tiktok",
    "youtube",
    "instagram",
    "music",
    "song",
    "weather",
    "girlfriend",
    "boyfriend",
    "party tonight",
    "pizza",
    "weekend",
    "joke",
    "bored",
    "lunch",
)
# Words of a student talking about their work (checking, understanding, thanking, greeting): a message with one of
# them is about the lesson even when it shares no word with the problem ("I double-checked and the figure is
# correct", "Thank you, I understand now"). MathDial's students say such things often; none is off topic.
_ON_TASK_TEXT = (
    "answer answers correct correctly right wrong mistake mistakes error errors calculator calculation calculations "
    "calculate figure figured check checked double-checked understand understood understanding problem problems "
    "question questions step steps method working workings work worked solve solved solving solution math maths "
    "equation operations think thought sure explain explaining explained thank thanks helping help learn learning "
    "confident forgot forgotten missed hi hello okay"
)
ON_TASK_WORDS = frozenset(_ON_TASK_TEXT.split())
_STOP_WORDS_TEXT = (
    "a an the and or but if of to in on at for with by from is are was were be been it its this that these "
    "those i you he she we they me my your his her our their so then than as do does did have has had not no "
    "yes can could would should will just what how why which who when where there here up down out about"
)
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_OPERATOR_RE = re.compile(r"\d\s*[-+*/x×÷=]\s*\$?\d|=")
ANSWER_CUE_RE = re.compile(r"\b(?:the\s+)?(?:final\s+)?answer\s*(?:is|=|:|would be|will be)\s*", re.IGNORECASE)

Kind = Literal["abusive", "off_topic", "manipulation", "answer_request", "attempt", "numbers", "confused", "other"]


def has_phrase(text: str, phrases: Sequence[str]) -> bool:
    lowered = " " + re.sub(r"[^a-z0-9' ]+", " ", text.lower()) + " "
    return any(f" {phrase} " in lowered for phrase in phrases)


def content_words(text: str) -> set[str]:
    return {
        word
        for word in re.findall(r"[a-z][a-z']+", text.lower())
        if word not in _STOP_WORDS and len(word) > 2 and not word.endswith("'s")
    } | {word[:-2] for word in re.findall(r"[a-z]+'s", text.lower())}


def is_number_spray(text: str) -> bool:
    """A message that is mostly a list of numbers ("1 2 3 4 5"): guessing, not an attempt."""
    mentions = number_mentions(text)
    if len(mentions) < 4 or _OPERATOR_RE.search(text):
        return False
    words = [word for word in re.findall(r"[A-Za-z]+", text) if word.lower() not in {"or", "and", "maybe"}]
    number_words = sum(1 for mention in mentions if mention.is_word)
    return len(words) - number_words <= 2


def stated_answer_values(text: str) -> list[float]:
    """The numbers a message puts forward as its answer: the last one, and one after "the answer is".

    Numbers in the middle of a worked message ("0.1x = $50, so x = 500") are steps, not the answer.
    """
    if is_number_spray(text):
        return []
    mentions = number_mentions(text)
    if not mentions:
        return []
    values = [mentions[-1].value]
    for cue in ANSWER_CUE_RE.finditer(text):
        for mention in mentions:
            if mention.start == cue.end() or (cue.end() <= mention.start <= cue.end() + 1):
                values.append(mention.value)
    return values


def states_answer(text: str, facts: ProblemFacts) -> bool:
    """Whether a student's message gives the correct final answer ("$18", "18 dollars", "18.0")."""
    if facts.answer_value is None:
        wanted = re.sub(r"[^a-z0-9.]", "", facts.final_answer.lower())
        return bool(wanted) and wanted in re.sub(r"[^a-z0-9.]", "", text.lower())
    return contains_number(stated_answer_values(text), facts.answer_value)


def message_kind(text: str, facts: ProblemFacts) -> Kind:
    if has_phrase(text, ABUSIVE_WORDS):
        return "abusive"
    if has_phrase(text, MANIPULATION_PHRASES):
        return "manipulation"
    if has_phrase(text, ANSWER_REQUEST_PHRASES):
        return "answer_request"
    mentions = number_mentions(text)
    if mentions and not is_number_spray(text):
        words = re.findall(r"[A-Za-z]+", text)
        is_worked = bool(_OPERATOR_RE.search(text)) or len(words) >= 2
        return "attempt" if is_worked else "numbers"
    if mentions:
        return "numbers"
    if has_phrase(text, CONFUSED_PHRASES) or text.strip().endswith("?"):
        return "confused"
    topic_words = content_words(text)
    problem_words = content_words(facts.statement) | content_words(facts.worked_solution)
    if has_phrase(text, OFF_TOPIC_WORDS):
        return "off_topic"
    if len(topic_words) >= 3 and not topic_words & (problem_words | ON_TASK_WORDS):
        return "off_topic"
    return "other"


def wrong_computation(text: str, facts: ProblemFacts) -> tuple[str, float | None, float | None] | None:
    """A calculation in the student's message whose result is not in the worked solution.

    Returns (expression, their result, the expression's true value).
    """
    for match in EQUATION_RE.finditer(text):
        result = parse_number(match.group("result"))
        if result is None or facts.step_for_value(result) is not None or _is_clock_time(text, match):
            continue
        expression = " ".join(match.group("expression").split())
        return expression, result, expression_value(expression)
    return None


_CLOCK_RE = re.compile(r"\b\d{1,2}:\d{2}\b(?:\s*[AaPp]\.?[Mm]\b\.?)?")


def as_written(text: str, value: float) -> str:
    """A number as the student wrote it when it is part of a clock time ("7:26 PM", not "26")."""
    for mention in reversed(number_mentions(text, words=False)):
        if same_number(mention.value, value):
            for clock in _CLOCK_RE.finditer(text):
                if clock.start() <= mention.start < clock.end():
                    return clock.group(0).rstrip(".")
            break
    return format_number(value)


def _is_clock_time(text: str, match: re.Match[str]) -> bool:
    """ "6:48 PM + 38 minutes = 7:26 PM" is arithmetic on times, not "48 PM + 38 minutes = 7"."""
    before = text[max(0, match.start() - 2) : match.start()]
    after = text[match.end() : match.end() + 2]
    return bool(re.fullmatch(r"\d:", before) or re.match(r":\d", after) or re.search(r"\d:\d", match.group(0)))
