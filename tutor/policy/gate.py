"""The gate between the model and the student: the model's text goes through sentence by sentence, each only
once it has passed every check (`ReplyGate`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.text import repeats_span
from tutor.policy.checks import text_violation
from tutor.policy.messages import content_words
from tutor.policy.numbers import contains_number, format_number, numbers_in
from tutor.policy.plan import ReplyPlan
from tutor.policy.sentences import ill_formed_reason, sentences_of, whole_sentences_end
from tutor.policy.solution import ProblemFacts
from tutor.policy.wording import without_lead

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
            additions.append(without_lead(self._question))
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
