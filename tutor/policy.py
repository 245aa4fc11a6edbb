"""The tutor policy: which move to make next, the reply written in code, and the check on every reply.

Pure functions over plain data (no Django, no model). The model may rephrase a reply, but the safety
of the policy comes from here: the tiny default model cannot be trusted to keep an answer to itself,
so `reply_violation` is run on everything before a student sees it, and the code-written reply is
always there to fall back on.

Moves follow MathDial (Macina et al., 2023):
- generic: greeting, invitation to explain, confirmation, keeping the chat on track;
- probing: asks the student to explain their own reasoning;
- focus: points at the step where the student's numbers leave the worked solution;
- telling: reveals part of the solution, only after the course's number of real attempts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from core.text import repeats_span
from tutor.diagnosis import Diagnosis, solution_diagnose
from tutor.numbers import (
    EQUATION_RE,
    contains_number,
    expression_value,
    format_number,
    number_mentions,
    numbers_in,
    parse_number,
    same_number,
)
from tutor.sentences import affirms, ill_formed_reason, negates, sentences_of, whole_sentences_end

POLICY_VERSION = "tutor-policy@v2"

Move = Literal["focus", "probing", "telling", "generic"]
MOVES: tuple[Move, ...] = ("focus", "probing", "telling", "generic")
STUDENT = "student"
TUTOR = "tutor"

# --- the worked solution ---------------------------------------------------------------------
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


# --- what a student's message is ----------------------------------------------------------------
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
_ANSWER_CUE_RE = re.compile(r"\b(?:the\s+)?(?:final\s+)?answer\s*(?:is|=|:|would be|will be)\s*", re.IGNORECASE)

Kind = Literal["abusive", "off_topic", "manipulation", "answer_request", "attempt", "numbers", "confused", "other"]


def _has_phrase(text: str, phrases: Sequence[str]) -> bool:
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
    for cue in _ANSWER_CUE_RE.finditer(text):
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
    if _has_phrase(text, ABUSIVE_WORDS):
        return "abusive"
    if _has_phrase(text, MANIPULATION_PHRASES):
        return "manipulation"
    if _has_phrase(text, ANSWER_REQUEST_PHRASES):
        return "answer_request"
    mentions = number_mentions(text)
    if mentions and not is_number_spray(text):
        words = re.findall(r"[A-Za-z]+", text)
        is_worked = bool(_OPERATOR_RE.search(text)) or len(words) >= 2
        return "attempt" if is_worked else "numbers"
    if mentions:
        return "numbers"
    if _has_phrase(text, CONFUSED_PHRASES) or text.strip().endswith("?"):
        return "confused"
    topic_words = content_words(text)
    problem_words = content_words(facts.statement) | content_words(facts.worked_solution)
    if _has_phrase(text, OFF_TOPIC_WORDS):
        return "off_topic"
    if len(topic_words) >= 3 and not topic_words & (problem_words | ON_TASK_WORDS):
        return "off_topic"
    return "other"


# --- the dialogue so far ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DialogueTurn:
    speaker: str  # "student" or "tutor"
    text: str
    move: str = ""


@dataclass
class DialogueState:
    """What the dialogue so far tells the policy."""

    attempts: int = 0
    known_steps: set[int] = field(default_factory=set)
    stalled: int = 0
    is_solved: bool = False  # the latest student message states the final answer
    has_stated_answer: bool = False
    is_answer_revealed: bool = False  # a tutor turn stated it before the student did
    tutor_turns: int = 0
    attempted_numbers: list[frozenset[float]] = field(default_factory=list)
    last_progress: list[Step] = field(default_factory=list)
    last_kind: Kind | None = None


def _is_new_attempt(values: list[float], previous: list[frozenset[float]]) -> bool:
    rounded = frozenset(round(value, 6) for value in values)
    return not any(rounded <= earlier for earlier in previous)


def dialogue_state(facts: ProblemFacts, dialogue: Sequence[DialogueTurn]) -> DialogueState:
    """Replay the dialogue: count real attempts, the steps the student has reached, stalls and reveals."""
    state = DialogueState()
    for turn in dialogue:
        if turn.speaker == TUTOR:
            state.tutor_turns += 1
            if facts.answer_value is not None and contains_number(numbers_in(turn.text), facts.answer_value):
                state.is_answer_revealed = state.is_answer_revealed or not state.has_stated_answer
            if turn.move == "telling":
                for value in numbers_in(turn.text):
                    state.known_steps.update(step.index for step in facts.steps_for_value(value))
                state.stalled = 0
            continue
        kind = message_kind(turn.text, facts)
        state.last_kind = kind
        state.last_progress = []
        # Solved is about the latest message: a student may state the answer and then doubt it.
        state.is_solved = states_answer(turn.text, facts) and kind not in ("abusive", "manipulation")
        if state.is_solved:
            state.has_stated_answer = True
            if facts.final_step is not None:
                state.known_steps.add(facts.final_step.index)
            continue
        if kind in ("abusive", "off_topic") or is_number_spray(turn.text):
            continue
        values = numbers_in(turn.text)
        final = facts.final_step
        for value in values:
            for step in facts.steps_for_value(value):
                # The final result only counts when stated as the answer (above), not in passing.
                if step.index not in state.known_steps and (final is None or step.index != final.index):
                    state.known_steps.add(step.index)
                    state.last_progress.append(step)
        if kind == "attempt" and _is_new_attempt(values, state.attempted_numbers):
            state.attempts += 1
            state.attempted_numbers.append(frozenset(round(value, 6) for value in values))
        # The first message (what the student tried before the chat) sets the starting point.
        if state.last_progress or turn is dialogue[0]:
            state.stalled = 0
        else:
            state.stalled += 1
    return state


def is_real_attempt(text: str, facts: ProblemFacts, earlier_student_texts: Sequence[str] = ()) -> bool:
    """Whether this message counts towards the attempts before telling (a new, worked answer)."""
    if message_kind(text, facts) != "attempt" or states_answer(text, facts):
        return False
    previous = [frozenset(round(value, 6) for value in numbers_in(earlier)) for earlier in earlier_student_texts]
    return _is_new_attempt(numbers_in(text), previous)


# --- the reply ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplyPlan:
    move: Move
    text: str  # the reply written in code: the fallback, and what the model may rephrase
    reason: str
    target_step: int | None = None
    level: int = 0
    is_solved: bool = False
    reveals_answer: bool = False
    flag: str = ""  # "abusive", "off_topic" or "manipulation": the student's message goes to the teacher
    forbidden_values: tuple[float, ...] = ()
    allowed_values: tuple[float, ...] = ()
    attempts: int = 0
    # Results the reply may call right (the final answer when solved, the steps just reached): a reply that
    # affirms anything else, or negates these, is refused.
    confirmed_values: tuple[float, ...] = ()
    # Telling, refusals and flagged messages go out as written: the model may not reword what must be exact.
    is_rephrasable: bool = True
    # The reply gives a step away (its calculation or its result): telling, in the teachers' figures.
    tells_step: bool = False


def plan_to_dict(plan: ReplyPlan) -> dict[str, Any]:
    """The plan as JSON, stored with the reply so that the stream checks exactly what was decided."""
    data = asdict(plan)
    data["policy"] = POLICY_VERSION
    data["forbidden_values"] = list(plan.forbidden_values)
    data["allowed_values"] = list(plan.allowed_values)
    data["confirmed_values"] = list(plan.confirmed_values)
    return data


def plan_from_dict(data: dict[str, Any]) -> ReplyPlan:
    names = {item.name for item in fields(ReplyPlan)}
    values = {key: value for key, value in data.items() if key in names}
    values["forbidden_values"] = tuple(values.get("forbidden_values", ()))
    values["allowed_values"] = tuple(values.get("allowed_values", ()))
    values["confirmed_values"] = tuple(values.get("confirmed_values", ()))
    return ReplyPlan(**values)


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
    if _has_phrase(text, ANSWER_PHRASES) or _ANSWER_SIGN_RE.search(text):
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


def _wrong_computation(text: str, facts: ProblemFacts) -> tuple[str, float | None, float | None] | None:
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


def _as_written(text: str, value: float) -> str:
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


_OPERATION_RE = re.compile(r"^\s*\$?(?P<a>[\d.,]+)[^\d]*?(?P<op>[-+*/x×÷–])\s*\$?(?P<b>[\d.,]+)\D*$")


def _why_question(expression: str) -> str:
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


def _last_tutor_text(dialogue: Sequence[DialogueTurn]) -> str:
    return next((turn.text.strip() for turn in reversed(dialogue) if turn.speaker == TUTOR), "")


def _first_name(name: str) -> str:
    return name.strip().split(" ")[0] if name.strip() else ""


def _invitation(name: str, *, anonymous: str) -> str:
    """The usual MathDial opening: ask the student to explain their solution."""
    greeting = f"Hi {name}, could you" if name else anonymous
    return f"{greeting} please walk me through your solution?"


def _step_after(facts: ProblemFacts, known: set[int]) -> Step | None:
    for step in facts.steps:
        if step.index not in known:
            return step
    return None


def _focus_question(step: Step, *, lead: str = "Okay, so") -> str:
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


def _without_lead(question: str) -> str:
    """ "Okay, so what was ...?" -> "What was ...?": the question alone, to follow someone else's words."""
    bare = _LEAD_RE.sub("", question, count=1)
    return bare[:1].upper() + bare[1:]


def _nudge(facts: ProblemFacts, target: Step | None) -> str:
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
    target = _step_after(facts, known_steps)
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


@dataclass
class _Planner:
    """The context of one reply: builds plans that always pass the check."""

    facts: ProblemFacts
    dialogue: Sequence[DialogueTurn]
    state: DialogueState
    target: Step | None
    forbidden: list[float]
    is_rephrasable: bool = True  # off once the reply must say something exactly (a refusal)

    def make(
        self,
        move: Move,
        text: str,
        reason: str,
        *,
        level: int = 0,
        flag: str = "",
        is_solved: bool = False,
        revealed: Sequence[float | None] = (),
        confirmed: Sequence[float | None] = (),
        is_rephrasable: bool = True,
        tells_step: bool = False,
    ) -> ReplyPlan:
        shown = [value for value in revealed if value is not None]
        right = tuple(value for value in confirmed if value is not None)
        forbidden = [value for value in self.forbidden if not contains_number(shown, value)]
        student_text = next((turn.text for turn in reversed(self.dialogue) if turn.speaker == STUDENT), "")
        found = plan_text_violation(
            text,
            facts=self.facts,
            forbidden_values=forbidden,
            is_telling_allowed=bool(shown),
            confirmed_values=right,
            is_solved=is_solved,
            student_text=student_text,
        )
        if found:
            # A template quoted a number it may not show (the statement itself holds it), or came out garbled:
            # the same check as the model's text, and a plain question instead.
            text = safe_probing_reply(self.facts, known_steps=self.state.known_steps, forbidden=forbidden)
            move, reason = "probing", f"{reason}; template caught by the check ({found})"
            right, tells_step = (), False
        # The model may say the problem's numbers, the plan's and the results the student has reached; not
        # the student's wrong numbers unless the plan asks about them ("Jasper spent 45 cents", written by
        # the tiny model after a student's "45?", would state a wrong result as a fact).
        allowed = set(numbers_in(self.facts.statement)) | set(numbers_in(text))
        allowed |= {step.result for step in self.facts.steps if step.index in self.state.known_steps}
        allowed = {value for value in allowed if not contains_number(forbidden, value)}
        return ReplyPlan(
            move=move,
            text=text,
            reason=reason,
            target_step=self.target.index if self.target is not None else None,
            level=level,
            is_solved=is_solved,
            reveals_answer=contains_number(shown, self.facts.answer_value),
            flag=flag,
            forbidden_values=tuple(forbidden),
            allowed_values=tuple(sorted(allowed)),
            attempts=self.state.attempts,
            confirmed_values=right,
            tells_step=tells_step or move == "telling",
            is_rephrasable=is_rephrasable and self.is_rephrasable and not flag and move != "telling",
        )


def reply_plan(
    *,
    facts: ProblemFacts,
    dialogue: Sequence[DialogueTurn],
    attempts_before_telling: int = 3,
    student_name: str = "",
    allows_step_hints: bool = False,
) -> ReplyPlan:
    """Choose the next tutor move from the dialogue so far and write the reply in that move.

    Telling follows the course's setting: by default the tutor never states the final answer and never
    gives a step away (its calculation or its result); with `allows_step_hints`, a step's calculation or
    the step itself may be given after `attempts_before_telling` real attempts, the last step's calculation
    only after twice that, and the final answer still never.
    """
    state = dialogue_state(facts, dialogue)
    last = dialogue[-1] if dialogue and dialogue[-1].speaker == STUDENT else None
    name = _first_name(student_name)
    target = _step_after(facts, state.known_steps)
    planner = _Planner(
        facts=facts,
        dialogue=dialogue,
        state=state,
        target=target,
        forbidden=forbidden_values_for(facts, known_steps=state.known_steps, is_telling_allowed=False),
    )
    make = planner.make

    if last is None:
        return make("generic", _invitation(name, anonymous="Hi, could you"), "the dialogue starts")

    kind = message_kind(last.text, facts)
    if kind == "abusive":
        text = "Let's keep our chat kind and about the problem. When you're ready, show me your next step."
        return make("generic", text, "abusive message", flag="abusive")
    if kind == "off_topic":
        text = f"Let's stay with the problem for now. {_nudge(facts, target)}"
        return make("generic", text, "off-topic message", flag="off_topic")
    if state.is_solved:
        if state.is_answer_revealed:
            text = f"Yes, {facts.final_answer} is right. Well done for finishing it."
        else:
            text = f"Yes, {facts.final_answer} is correct, well done."
        reason = "the student stated the final answer"
        return make(
            "generic", text, reason, is_solved=True, revealed=[facts.answer_value], confirmed=[facts.answer_value]
        )
    if state.tutor_turns == 0:
        diagnosis = solution_diagnose(facts, last.text) if kind == "attempt" else None
        if diagnosis is not None and diagnosis.first_wrong is not None and diagnosis.kind != "none":
            return _opening_diagnosis(planner, diagnosis, name)
        text = _invitation(name, anonymous="Thanks. Could you")
        return make("generic", text, "first tutor turn: invite an explanation")

    refusal, flag = "", ""
    if kind == "manipulation":
        refusal, flag = "I can't give you the answer, but you can work it out yourself. ", "manipulation"
    elif kind == "answer_request":
        refusal = "I won't just give you the answer, but we can get there together. "

    planner.is_rephrasable = not refusal
    lead = "So" if refusal else "Okay, so"  # after "I can't give you the answer, but ...", not "Okay"
    claimed = stated_answer_values(last.text) if _ANSWER_CUE_RE.search(last.text) else []
    if (
        state.last_progress
        and target is not None
        and any(same_number(value, step.result) for value in claimed[-1:] for step in state.last_progress)
    ):
        # A right intermediate result put forward as the answer: praising it would read as "your answer is
        # right", so the reply says it is not the end yet and asks for the next step.
        text = f"That is not the final answer yet. {_focus_question(target, lead='So')}"
        return make("focus", text, "a step's result given as the answer: not the end yet", level=1, flag=flag)
    if state.last_progress and target is not None:
        praise = f"Yes, {format_number(state.last_progress[-1].result)} is right. "
        text = praise + _focus_question(target, lead="So")
        confirmed = [step.result for step in state.last_progress]
        return make("focus", text, "progress: focus on the next step", level=1, flag=flag, confirmed=confirmed)

    # Escalate while the student stays stuck: probe their reasoning, point at the step, and only where the
    # course allows it, after its number of real attempts, give the step's calculation or tell the step.
    stalled = max(state.stalled, 1)
    is_final_target = target is not None and facts.final_step is not None and target.index == facts.final_step.index
    hint_attempts = attempts_before_telling * (2 if is_final_target else 1)
    may_hint = allows_step_hints and target is not None and state.attempts >= hint_attempts
    is_telling_allowed = allows_step_hints and state.attempts >= attempts_before_telling
    if is_telling_allowed and (stalled >= 3 or refusal) and kind != "confused":
        return _telling_plan(planner, attempts_before_telling, flag=flag)

    if stalled <= 1:
        wrong = _wrong_computation(last.text, facts)
        if wrong is not None:
            expression, result, true_value = wrong
            if true_value is not None and result is not None and not same_number(true_value, result):
                text = f"Check your calculation {expression} = {format_number(result)}. What is {expression}?"
                return make("focus", refusal + text, "arithmetic slip in the student's work", level=2, flag=flag)
            if target is not None and may_hint:
                # MathDial's teachers answer a wrong calculation by pointing at the right one more often than by
                # asking why (development dialogues: 55 focus turns to 40 probing): it names the calculation, not
                # its result; but that gives the step's method away, so only where the course allows step hints.
                text = target.calculation_question()
                reason = "point at the calculation the step needs"
                return make("focus", refusal + text, reason, level=1, flag=flag, tells_step=True)
            if target is not None:
                text = _focus_question(target, lead=lead)
                return make("focus", refusal + text, "a wrong calculation: focus on the step", level=1, flag=flag)
            text = _why_question(expression)
            return make("probing", refusal + text, "probe the step that leaves the solution", level=1, flag=flag)
        diagnosis = solution_diagnose(facts, last.text, known_steps=state.known_steps)
        theirs = [value for value in numbers_in(last.text) if facts.step_for_value(value) is None]
        if diagnosis.student_value is not None:
            # The number they got for the first step that leaves the solution, not just their last number
            # (a right intermediate result that is in no step is not a mistake to ask about).
            theirs = [diagnosis.student_value]
        if theirs and kind == "attempt":
            text = f"Can you tell me how you got {_as_written(last.text, theirs[-1])}?"
            if target is not None:
                text += f" {target.question}"
            return make("probing", refusal + text, "probe a number not in the solution", level=1, flag=flag)
        if kind == "confused" and target is not None:
            text = _focus_question(target, lead=lead)
            return make("focus", refusal + text, "unsure: focus on the step", level=1, flag=flag)
        if target is not None and state.tutor_turns >= 1:
            # They have told us how they went about it, with no new numbers: asking again would repeat
            # the opening question, so point at the first step they have not reached.
            text = _focus_question(target, lead=lead)
            return make("focus", refusal + text, "explained without numbers: focus on the step", level=1, flag=flag)
        text = "Can you tell me how you worked it out, step by step?"
        return make("probing", refusal + text, "ask for the reasoning", level=1, flag=flag)
    if target is None:
        text = "Which calculation are you least sure about? Try doing it again."
        return make("probing", refusal + text, "no parsed steps: ask to recheck", level=2, flag=flag)
    last_tutor = _last_tutor_text(dialogue)
    if not may_hint:
        # No step hints (the course's setting, or not enough attempts yet): ask for the step in other words
        # each time, never its calculation.
        candidates = [
            _focus_question(target, lead=lead),
            f"Let's think about this step together. {target.question}",
            f"Which numbers from the problem do you need here? {target.question}",
        ]
        text = next((candidate for candidate in candidates if not last_tutor.endswith(candidate)), candidates[-1])
        return make("focus", refusal + text, "stuck: focus on the step, without its calculation", level=1, flag=flag)
    text = target.calculation_question()
    if last_tutor.endswith(text):
        # Not the same words twice in a row: the calculation alone.
        text = f"Let's do just the calculation: what is {target.expression}?"
    if stalled == 2:
        reason = "stuck twice: point at the calculation"
        return make("focus", refusal + text, reason, level=1, flag=flag, tells_step=True)
    return make("focus", refusal + text, "stuck again: the calculation", level=2, flag=flag, tells_step=True)


def _opening_diagnosis(planner: _Planner, diagnosis: Diagnosis, name: str) -> ReplyPlan:
    """The first reply to a worked solution: MathDial's teachers' opening, then praise for the steps that are
    right before the first wrong one, then that step ("Hi Ben, could you please walk me through your solution?
    You got 150 and 300 right. How did you get 600?"), or the first missing step's question.

    Its move is `generic`, as MathDial's teachers label their opening invitation (three in four of them). On
    the development dialogues the opening invitation alone scored 28.3 sacreBLEU on first turns, the diagnosis
    leading ("Hi Ben, you got ... right. Could you please walk me through your solution, starting with how you
    got 600?") 13.1, and this order 16.3.
    """
    planner.target = diagnosis.first_wrong
    right = list(dict.fromkeys(format_number(step.result) for step in diagnosis.right_steps))
    confirmed = [step.result for step in diagnosis.right_steps]
    target = diagnosis.first_wrong
    assert target is not None  # the caller checked
    greeting = f"Hi {name}, could you" if name else "Thanks. Could you"
    praise = ""
    if right:
        listed = right[0] if len(right) == 1 else ", ".join(right[:-1]) + " and " + right[-1]
        praise = f" You got {listed} right."
    if diagnosis.student_value is not None:
        got = _as_written(planner.dialogue[-1].text, diagnosis.student_value)
        text = f"{greeting} please walk me through your solution?{praise} How did you get {got}?"
        reason = "opening: the first wrong step of the student's solution"
    else:
        text = f"{greeting} please walk me through your solution?{praise} {target.question}"
        reason = "opening: the first missing step of the student's solution"
    return planner.make("generic", text, reason, level=1, confirmed=confirmed)


def _telling_plan(planner: _Planner, attempts_before_telling: int, *, flag: str) -> ReplyPlan:
    """Telling, the last resort: reveal the step the student is stuck on.

    The final answer itself is only stated after twice the course's attempts; before that, the last
    step is told as its calculation, so the student still takes the final step themselves.
    """
    facts, state, target = planner.facts, planner.state, planner.target
    may_tell_last_calculation = state.attempts >= 2 * attempts_before_telling
    if target is None:
        text = "Let's check each calculation in your working again, one at a time. Which one shall we start with?"
        return planner.make("probing", text, "no parsed steps: ask to recheck", level=2, flag=flag)
    is_final = facts.final_step is not None and target.index == facts.final_step.index
    if is_final:
        # The final answer is never stated: the last step is told as its calculation, after twice the attempts.
        if may_tell_last_calculation:
            text = f"To finish, you need {target.expression}. What do you get?"
            reason = "tell the last calculation, not its result"
            return planner.make("telling", text, reason, level=3, flag=flag, tells_step=True)
        text = _focus_question(target, lead="So")
        return planner.make("focus", text, "the last step: asked, not told", level=2, flag=flag)
    following = _step_after(facts, {*state.known_steps, target.index})
    text = f"Let me show you this step: {target.line.rstrip('.')}."
    text += f" Now: {following.question}" if following is not None else " Can you see why?"
    reason = "enough real attempts: tell the step the student is stuck on"
    return planner.make("telling", text, reason, level=3, flag=flag, revealed=[target.result], tells_step=True)


# --- the gate between the model and the student ------------------------------------------------
JUNK_PHRASES = (
    "i'm sorry",
    "i am sorry",
    "as an ai",
    "language model",
    "i'm not sure",
    "i am not sure",
    "i'm just",
    "i can't help",
    "i cannot help",
    "i'm here to",
    "i am here to",
    "classic example",
    "lateral thinking",
    "puzzle",
    "riddle",
    "not equipped",
    "my name is",
    "assistant",
    "student:",
    "tutor:",
    "teacher:",
    "http",
    # The tiny model likes to talk about the prompt or to play the student: neither reaches a student.
    "the student",
    "student's",
    "your message",
    "i'm going to",
    "i am going to",
    "glad you",
    "different problem",
    "as a tutor",
    "math tutor",
    "here's",
    "here is",
)
MIN_RELEVANCE = 0.5
MIN_PLAN_RECALL = 0.5  # of the planned reply's own words, kept in the model's version
ECHO_WORDS = 6  # this many words in a row from the student's message is parroting, not tutoring
# Words any tutor uses; they neither ground a reply nor take it off topic.
_TUTOR_WORDS_TEXT = (
    "great good nice well done try tried again let let's lets look check step steps work working worked think "
    "calculation calculate number numbers right correct okay answer explain question problem find first next "
    "then start together sure careful close almost carefully"
)
TUTOR_WORDS = frozenset(_TUTOR_WORDS_TEXT.split())


class ReplyGate:
    """Lets a model's reply through sentence by sentence, each only once it has passed the check.

    What streams is what is stored: a sentence is shown only when it is whole and passes every check (safe,
    well formed, the plan's polarity, its numbers true, about the problem, not an echo, still asking what the
    plan asks); the first sentence that fails stops the model. `final_text()` keeps what was shown and adds
    the plan's question if the model did not ask it; when nothing passed, the planned text goes out, so the
    stored reply always begins with what the student already saw (`tail()` is what is left to stream).
    """

    def __init__(self, plan: ReplyPlan, facts: ProblemFacts, *, context: str = "", max_chars: int = 360):
        self.plan = plan
        self.facts = facts
        self.context = context
        self.max_chars = max_chars
        self.text = ""  # everything the model wrote
        self.shown = ""  # what passed the check and was handed on
        self._judged = 0  # how much of `text` has been judged, in whole sentences
        self.violation: str | None = None
        self.is_full = False
        self._is_telling_allowed = plan.move == "telling" or plan.is_solved or plan.reveals_answer
        questions = [sentence for sentence in sentences_of(plan.text) if sentence.endswith("?")]
        self._questions = questions
        self._question = questions[-1] if questions else ""
        self._grounding = content_words(plan.text) | content_words(facts.statement) | TUTOR_WORDS
        self._sources = _fact_sources(plan, facts)
        self._final: tuple[str, str] | None = None
        if not plan.is_rephrasable:
            self.violation = "the plan is said as written (telling, a refusal or a flag)"

    @property
    def emitted(self) -> int:
        return len(self.shown)

    @property
    def is_stopped(self) -> bool:
        return self.violation is not None or self.is_full

    def _sentence_violation(self, sentence: str) -> str | None:
        plan = self.plan
        found = ill_formed_reason(sentence) or text_violation(
            sentence,
            facts=self.facts,
            forbidden_values=plan.forbidden_values,
            is_telling_allowed=self._is_telling_allowed,
            confirmed_values=plan.confirmed_values,
            is_solved=plan.is_solved,
        )
        if found:
            return found
        for value in numbers_in(sentence):
            if not contains_number(plan.allowed_values, value):
                number = format_number(value)
                return f"a number ({number}) that is not in the problem, the plan or a result the student reached"
        unsupported = _unsupported_fact(sentence, self._sources, confirmed=plan.confirmed_values)
        if unsupported:
            return unsupported
        lowered = sentence.lower()
        for phrase in JUNK_PHRASES:
            if phrase in lowered:
                return f"off-track wording (“{phrase}”)"
        words = content_words(sentence)
        if words and len(words & self._grounding) / len(words) < MIN_RELEVANCE:
            return "not about this problem"
        if _echoes(self.shown + " " + sentence, self.context, allowed=plan.text):
            return "it repeats the student's message"
        if sentence.endswith("?"):
            if self.shown.count("?") >= max(1, plan.text.count("?")):
                return "a second question"
            said = content_words(sentence)
            recalls = [
                len(planned & said) / len(planned)
                for planned in (content_words(question) - TUTOR_WORDS for question in self._questions or [plan.text])
                if planned
            ]
            if recalls and max(recalls) < MIN_PLAN_RECALL:
                return "it lost what the planned reply asks"
        return None

    def _judge(self, *, is_final: bool) -> str:
        end = whole_sentences_end(self.text, is_final=is_final)
        out = ""
        if end <= self._judged:
            return out
        for sentence in sentences_of(self.text[self._judged : end]):
            self.violation = self._sentence_violation(sentence)
            if self.violation:
                return out
            piece = (" " if self.shown else "") + sentence
            self.shown += piece
            out += piece
        self._judged = end
        return out

    def feed(self, piece: str) -> str:
        """Take the next piece of the model's text; return what may be shown now (whole checked sentences)."""
        if self.is_stopped:
            return ""
        self.text += piece
        if len(self.text) > self.max_chars:
            self.is_full = True
        return self._judge(is_final=False)

    def finish(self) -> str:
        """The model is done: judge its last sentence too. Returns what may be shown of it."""
        if self.violation is not None:
            return ""
        return self._judge(is_final=True)

    def final_text(self) -> tuple[str, str]:
        """The reply to keep and where it came from: ("model" | "model+plan" | "plan", why).

        It always begins with `shown`: nothing the student saw is taken back.
        """
        if self._final is not None:
            return self._final
        self.finish()
        self._final = self._decide()
        return self._final

    def tail(self) -> str:
        """What of the final reply has not been shown yet."""
        text, _ = self.final_text()
        return text[len(self.shown) :]

    def _decide(self) -> tuple[str, str]:
        shown = self.shown
        if not shown:
            if self.violation:
                return self.plan.text, f"replaced: {self.violation}"
            return self.plan.text, "replaced: the model wrote no whole sentence"
        additions = []
        if self.plan.is_solved and not contains_number(numbers_in(shown), self.facts.answer_value):
            # The confirmation must name the answer: the plan's own confirmation follows what was shown.
            additions.append(self.plan.text)
        elif self._question and "?" not in shown:
            additions.append(_without_lead(self._question))
        elif self.plan.move in ("focus", "probing") and not self._question and len(shown.split()) < 3:
            additions.append(self.plan.text)
        if additions:
            why = f"; then {self.violation}" if self.violation else ""
            return f"{shown} {' '.join(additions)}", f"model+plan{why}"
        return shown, "model"


_FACT_CLAUSE_RE = re.compile(r"[,;:]\s+|\s+(?:and|but|while|whereas)\s+")


def _fact_sources(plan: ReplyPlan, facts: ProblemFacts) -> list[str]:
    """What a number stated as a fact may rest on: the clauses of the problem, of the plan and of the steps
    the student has reached. Clauses, not sentences: "He buys 2 pounds of cheddar cheese for $10, a pound of
    cream cheese that cost half ..." does not say that the cream cheese cost $10."""
    sentences = sentences_of(facts.statement) + sentences_of(plan.text)
    sentences += [step.line for step in facts.steps if contains_number(plan.allowed_values, step.result)]
    return [clause for sentence in sentences for clause in _FACT_CLAUSE_RE.split(sentence) if clause.strip()]


FACT_SUPPORT = 0.6  # of a stated fact's own words, found in one sentence of the problem or the plan with its number


def _unsupported_fact(sentence: str, sources: Sequence[str], *, confirmed: Sequence[float]) -> str | None:
    """A number stated as a fact ("The distance from riverbed to peak is 300m.") must be said of what it is.

    A question states nothing; a confirmed result ("Yes, 15 is right.") is true by the plan. Otherwise the
    sentence's words must mostly be found in one sentence of the problem or the plan that holds the number.
    """
    if sentence.rstrip().endswith("?"):
        return None
    words = content_words(sentence) - TUTOR_WORDS
    for value in numbers_in(sentence):
        if contains_number(confirmed, value) or not words:
            continue
        supported = any(
            contains_number(numbers_in(source), value)
            and len(words & content_words(source)) / len(words) >= FACT_SUPPORT
            for source in sources
        )
        if not supported:
            return f"states {format_number(value)} as a fact the problem does not say"
    return None


def _echoes(text: str, source: str, *, allowed: str = "") -> bool:
    """Whether `text` repeats ECHO_WORDS words in a row of `source` that `allowed` does not contain."""
    return repeats_span(text, [source], span=ECHO_WORDS, allowed=allowed)
