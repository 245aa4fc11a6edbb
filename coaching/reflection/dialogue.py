"""The Student-Teacher / Teacher-Educator dialogue that writes one reflection question.

Round by round: the Student-Teacher (structured output: a question and a rationale) drafts; the
checks in code run on the draft; a failing draft goes back with the failed check's reason as the
coaching, without troubling the Teacher-Educator; a passing draft goes to the Teacher-Educator, who
answers with one Socratic coaching question or the stop signal `Great question!`. The loop stops on
the signal or at the round limit. At the limit the final question is the last draft that passed the
checks; when none did (a small model often fails), code repairs the last draft or writes a question
from the form, and the dialogue records that the final question was repaired (`final_source`).

This module holds no database code: `services` stores what it returns, round by round.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from django.conf import settings
from pydantic import BaseModel, Field, StringConstraints

from coaching.reflection.checks import (
    CHECKS_VERSION,
    CheckResult,
    checks_as_data,
    checks_coaching,
    checks_pass,
    concepts_named,
    level_word_range,
    question_checks,
    words,
)
from core.errors import ApplicationError
from models_runtime import api as models

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
STUDENT_TEMPLATE = PROMPTS_DIR / "student_teacher.toml"
EDUCATOR_TEMPLATE = PROMPTS_DIR / "teacher_educator.toml"
TASK = "questions"
STOP_SIGNAL = "Great question!"
# Bump when the loop's behaviour changes (what goes back as coaching, when it stops, the repair).
POLICY_VERSION = 3

MAX_TOPIC_CHARS = 300
MAX_CONCEPTS = 10
MAX_CONCEPT_CHARS = 80
MAX_LEVEL_CHARS = 80
MAX_MATERIALS_CHARS = 20_000
MAX_ROUNDS_LIMIT = 8
DEFAULT_MAX_ROUNDS = 4
MATERIALS_IN_PROMPT_CHARS = 500
HISTORY_IN_PROMPT = 2
# A small model fills its token budget with words; the fields' limits keep the JSON closed in time.
QUESTION_MAX_CHARS = 240
RATIONALE_MAX_CHARS = 140


class Draft(BaseModel):
    question: str = Field(min_length=1, max_length=QUESTION_MAX_CHARS)
    rationale: str = Field(min_length=1, max_length=RATIONALE_MAX_CHARS)


COACHING_MAX_CHARS = 160
# The Teacher-Educator's answer, constrained: exactly the stop signal, or one question (a capital, no other
# question mark, ending with one). Constrained decoding makes a small model choose between the two. No length
# bound in the pattern: xgrammar fails to compile a bounded repetition there; the token budget bounds it and
# `_is_coaching` refuses one over COACHING_MAX_CHARS.
CoachingQuestion = Annotated[str, StringConstraints(pattern=r"^[A-Z][^?\n]*[?]$")]


class EducatorReply(BaseModel):
    reply: Literal["Great question!"] | CoachingQuestion


# The ways the Student-Teacher is asked for a draft, in order: the first is the one-shot baseline's; the
# others are tried (best of n, `REFLECTION_DRAFT_SAMPLES`) while the drafts so far fail the checks.
ANGLES = (
    'Write one new question about {topic} that starts with "Why" and uses "{first_concept}".',
    'Write one new question about {topic} that starts with "How does {second_concept}" and links it to '
    '"{first_concept}".',
    'Write one new question about {topic} that starts with "What would happen if" and uses "{first_concept}".',
    'Write one short question for {level} students that starts with "How" and uses "{second_concept}".',
)


@dataclass(frozen=True)
class QuestionSpec:
    topic: str
    concepts: tuple[str, ...]
    level: str
    materials: str = ""
    max_rounds: int = DEFAULT_MAX_ROUNDS


@dataclass
class RoundOutcome:
    number: int
    draft: str
    rationale: str
    draft_source: str  # "model" | "model_failed"
    checks: list[dict[str, Any]]
    coaching: str
    coaching_source: str  # "educator" | "checks" | "code"
    is_stop_signal: bool
    provenance: dict[str, Any]

    @property
    def passed(self) -> bool:
        return checks_pass(self.checks)


@dataclass
class DialogueOutcome:
    rounds: list[RoundOutcome]
    final_question: str
    final_source: str  # "model" | "repair"
    final_checks: list[dict[str, Any]]
    stop_reason: str  # "signal" | "limit"
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def final_passes_checks(self) -> bool:
        return checks_pass(self.final_checks)


def _clean_lines(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def question_spec_build(
    *,
    topic: str,
    concepts: Sequence[str] | str,
    level: str,
    materials: str = "",
    max_rounds: int | str | None = DEFAULT_MAX_ROUNDS,
) -> QuestionSpec:
    """Validate the form's fields (the page, the API and the commands share these rules).

    Raises ApplicationError with a message that names the field, and `fields` for forms.
    """
    problems: dict[str, str] = {}
    topic = _clean_lines(topic or "")
    if not topic:
        problems["topic"] = "Give the topic of the lesson."
    elif len(topic) > MAX_TOPIC_CHARS:
        problems["topic"] = (
            f"The topic has {len(topic):,} characters; keep it to {MAX_TOPIC_CHARS} (put the rest in the materials)."
        )
    if isinstance(concepts, str):
        concepts = re.split(r"[,;\n]", concepts)
    cleaned: list[str] = []
    for concept in concepts:
        concept = _clean_lines(concept)
        if concept and concept.lower() not in (existing.lower() for existing in cleaned):
            cleaned.append(concept)
    if not cleaned:
        problems["concepts"] = "Give at least one key concept (separate several with commas)."
    elif len(cleaned) > MAX_CONCEPTS:
        problems["concepts"] = f"Give at most {MAX_CONCEPTS} key concepts ({len(cleaned)} given)."
    elif any(len(concept) > MAX_CONCEPT_CHARS for concept in cleaned):
        problems["concepts"] = f"Each key concept is a few words ({MAX_CONCEPT_CHARS} characters at most)."
    elif any(not words(concept) for concept in cleaned):
        problems["concepts"] = "Each key concept needs at least one letter or digit."
    level = _clean_lines(level or "")
    if not level:
        problems["level"] = (
            "Give the students' level (a school year such as “year 7”, or a level such as “university”)."
        )
    elif len(level) > MAX_LEVEL_CHARS:
        problems["level"] = f"Keep the level to {MAX_LEVEL_CHARS} characters."
    materials = (materials or "").strip()
    if len(materials) > MAX_MATERIALS_CHARS:
        problems["materials"] = (
            f"The materials have {len(materials):,} characters; "
            f"give at most {MAX_MATERIALS_CHARS:,} (the relevant part)."
        )
    rounds = DEFAULT_MAX_ROUNDS
    try:
        rounds = int(max_rounds) if max_rounds not in (None, "") else DEFAULT_MAX_ROUNDS
    except (TypeError, ValueError):
        problems["max_rounds"] = "The most rounds is a whole number."
    else:
        if not 1 <= rounds <= MAX_ROUNDS_LIMIT:
            problems["max_rounds"] = f"The most rounds is between 1 and {MAX_ROUNDS_LIMIT}."
    if problems:
        raise ApplicationError(next(iter(problems.values())), extra={"fields": problems})
    return QuestionSpec(topic=topic, concepts=tuple(cleaned), level=level, materials=materials, max_rounds=rounds)


def _templates() -> tuple[models.PromptTemplate, models.PromptTemplate]:
    return models.prompt_load(STUDENT_TEMPLATE), models.prompt_load(EDUCATOR_TEMPLATE)


def _draft_tokens() -> int:
    return int(getattr(settings, "REFLECTION_DRAFT_MAX_NEW_TOKENS", 110))


def _reply_tokens() -> int:
    return int(getattr(settings, "REFLECTION_REPLY_MAX_NEW_TOKENS", 60))


def _json_attempts() -> int:
    return int(getattr(settings, "REFLECTION_JSON_ATTEMPTS", 2))


def _draft_samples() -> int:
    return max(1, min(len(ANGLES), int(getattr(settings, "REFLECTION_DRAFT_SAMPLES", 3))))


def _history_text(history: Sequence[RoundOutcome]) -> str:
    lines = []
    for outcome in list(history)[-HISTORY_IN_PROMPT:]:
        lines.append(f"Your draft {outcome.number}: {outcome.draft or '(none)'}")
        lines.append(f"Coaching on it: {outcome.coaching}")
    if not lines:
        return ""
    return "\n".join(lines) + "\nAnswer the coaching with a better question.\n"


def _angle(spec: QuestionSpec, index: int) -> str:
    second = spec.concepts[1] if len(spec.concepts) > 1 else spec.concepts[0]
    return ANGLES[index % len(ANGLES)].format(
        topic=spec.topic, first_concept=spec.concepts[0], second_concept=second, level=spec.level
    )


SchemaT = TypeVar("SchemaT", bound=BaseModel)


def _chat_json(
    *, messages: list[dict[str, str]], schema: type[SchemaT], template: models.PromptTemplate, max_new_tokens: int
) -> tuple[SchemaT | None, dict[str, Any]]:
    """One structured call of the dialogue's model: (parsed reply, provenance). A model that writes no valid
    JSON gives (None, the provenance with its error); a server that is down raises."""
    try:
        parsed, generation = models.chat_json(
            task=TASK,
            messages=messages,
            schema=schema,
            template=template,
            max_new_tokens=max_new_tokens,
            attempts=_json_attempts(),
        )
    except models.StructuredOutputError as error:
        return None, {**models.provenance(models.version_for_task(TASK), template), "error": error.message}
    record = {
        **generation.provenance,
        "completion_tokens": generation.completion_tokens,
        "finish_reason": generation.finish_reason,
    }
    return parsed, record


def student_teacher_messages(
    spec: QuestionSpec, history: Sequence[RoundOutcome], *, angle: int = 0
) -> list[dict[str, str]]:
    template, _ = _templates()
    word_range = level_word_range(spec.level)
    materials = ""
    if spec.materials:
        excerpt = _clean_lines(spec.materials)[:MATERIALS_IN_PROMPT_CHARS]
        materials = f"Materials (use the ideas, never copy a sentence): {excerpt}\n"
    return template.render(
        topic=spec.topic,
        concepts=", ".join(spec.concepts),
        level=spec.level,
        min_words=word_range.minimum,
        max_words=word_range.maximum,
        materials=materials,
        history=_history_text(history),
        angle=_angle(spec, angle),
    )


def student_teacher_draft(
    spec: QuestionSpec, history: Sequence[RoundOutcome], *, angle: int = 0
) -> tuple[str, str, str, dict[str, Any]]:
    """One draft: (question, rationale, source, provenance). A model that writes no valid JSON gives an
    empty draft with source `model_failed` (its error in the provenance); a server that is down raises."""
    template, _ = _templates()
    messages = student_teacher_messages(spec, history, angle=angle)
    draft, record = _chat_json(messages=messages, schema=Draft, template=template, max_new_tokens=_draft_tokens())
    if draft is None:
        return "", "", "model_failed", record
    return _clean_lines(draft.question), _clean_lines(draft.rationale), "model", {**record, "angle": angle}


def student_teacher_best_draft(
    spec: QuestionSpec, history: Sequence[RoundOutcome]
) -> tuple[str, str, str, dict[str, Any]]:
    """Best of n: drafts asked in the `ANGLES` order until one passes every check (at most
    `REFLECTION_DRAFT_SAMPLES`); else the draft that passes the most checks (the first of equals). Every
    candidate and the choice are recorded in the provenance (`best_of`)."""
    samples = _draft_samples()
    tried: list[tuple[str, str, str, dict[str, Any], int]] = []
    for angle in range(samples):
        question, rationale, source, record = student_teacher_draft(spec, history, angle=angle)
        passed = sum(result.passed for result in _checks(spec, question)) if question else -1
        tried.append((question, rationale, source, record, passed))
        if question and checks_pass(_checks(spec, question)):
            break
    chosen = max(range(len(tried)), key=lambda index: (tried[index][4], -index))
    question, rationale, source, record, _passed = tried[chosen]
    record = {
        **record,
        "best_of": {
            "samples": samples,
            "asked": len(tried),
            "chosen": chosen,
            "candidates": [
                {"angle": index, "question": item[0], "source": item[2], "checks_passed": max(item[4], 0)}
                for index, item in enumerate(tried)
            ],
        },
    }
    return question, rationale, source, record


def _checks_summary(spec: QuestionSpec, draft: str) -> str:
    named = concepts_named(draft, spec.concepts)
    missing = [concept for concept in spec.concepts if concept not in named]
    summary = f"one open question of a suitable length; it names {', '.join(named) or 'no key concept'}"
    return summary + (f"; it does not name {', '.join(missing)}." if missing else "; it names every key concept.")


def teacher_educator_reply(spec: QuestionSpec, *, draft: str, rationale: str) -> tuple[str, str, bool, dict[str, Any]]:
    """(coaching, coaching_source, is_stop_signal, provenance). The reply is constrained JSON
    (`EducatorReply`): exactly the stop signal or one question. Only the exact signal stops the loop; a
    reply that is not usable coaching (no valid JSON, the draft echoed) is replaced by a coaching question
    written in code (source `code`, the model's reply kept in the provenance)."""
    _, template = _templates()
    messages = template.render(
        topic=spec.topic,
        concepts=", ".join(spec.concepts),
        level=spec.level,
        draft=draft,
        rationale=rationale,
        first_concept=spec.concepts[0],
        checks_summary=_checks_summary(spec, draft),
    )
    reply, record = _chat_json(
        messages=messages, schema=EducatorReply, template=template, max_new_tokens=_reply_tokens()
    )
    if reply is None:
        return code_coaching(spec, draft), "code", False, record
    raw = reply.reply.strip()
    record = {**record, "raw_reply": raw}
    cleaned = _reply_cleaned(raw)
    if cleaned == STOP_SIGNAL:
        return STOP_SIGNAL, "educator", True, record
    question = re.match(r"[^?]*\?", cleaned)
    if question and not cleaned.startswith(STOP_SIGNAL) and _is_coaching(question.group(0), draft):
        return _clean_lines(question.group(0)), "educator", False, record
    return code_coaching(spec, draft), "code", False, record


_REPLY_PREFIX = re.compile(r"^\s*(?:your reply|reply|teacher educator|teacher-educator|answer)\s*:\s*", re.IGNORECASE)


def _reply_cleaned(raw: str) -> str:
    text = _REPLY_PREFIX.sub("", raw.strip())
    return text.strip().strip("\"'“”").strip()


def _is_coaching(question: str, draft: str) -> bool:
    """A coaching question has a few words and is not the draft repeated (small models echo it)."""
    tokens = words(question)
    if len(tokens) < 4 or len(question) > COACHING_MAX_CHARS:
        return False
    if question.lower().startswith(("draft", "rationale", "topic")):
        return False
    draft_tokens = set(words(draft))
    shared = sum(1 for token in tokens if token in draft_tokens)
    return shared / len(tokens) < 0.7


def code_coaching(spec: QuestionSpec, draft: str) -> str:
    """A Socratic coaching question written in code, used when the model's reply was not usable."""
    missing = [concept for concept in spec.concepts if concept not in concepts_named(draft, spec.concepts)]
    if missing:
        return f"How could the question also link {missing[0]} to the other concepts?"
    return f"What situation from {spec.level} students' own lives could make this question more engaging?"


def _first_question(text: str) -> str:
    match = re.search(r"[^.?!]*\?", text)
    return _clean_lines(match.group(0)) if match else _clean_lines(text).rstrip(".!") + "?"


def _short_topic(topic: str) -> str:
    topic = topic.rstrip(".?! ")
    return topic if len(words(topic)) <= 6 else "this topic"


def question_repair(spec: QuestionSpec, draft: str) -> tuple[str, str]:
    """A question that passes the checks, written in code from the model's last draft or the form.
    Returns (question, how): how is `first_question`, `why_prefix` or `template`."""
    if draft.strip():
        candidate = _first_question(draft)
        if _passes(spec, candidate):
            return candidate, "first_question"
        first_word = words(candidate)[:1]
        if first_word and first_word[0] in {"is", "are", "do", "does", "can", "will", "would", "should", "could"}:
            why = "Why " + candidate[0].lower() + candidate[1:]
            if _passes(spec, why):
                return why, "why_prefix"
    topic = _short_topic(spec.topic)
    first = spec.concepts[0]
    candidates = []
    # Phrased so that a singular or a plural concept reads correctly.
    if len(spec.concepts) > 1:
        candidates.append(
            f"How are {first} and {spec.concepts[1]} connected in {topic}, and why does that link matter?"
        )
    candidates.append(f"What role does {first} play in {topic}, and why does it matter?")
    candidates.append(f"What role does {first} play, and how would you explain it to a friend?")
    for candidate in candidates:
        if _passes(spec, candidate):
            return candidate, "template"
    return candidates[-1], "template"


def _passes(spec: QuestionSpec, text: str) -> bool:
    return checks_pass(_checks(spec, text))


def _checks(spec: QuestionSpec, text: str) -> list[CheckResult]:
    return question_checks(text=text, concepts=spec.concepts, level=spec.level, materials=spec.materials)


def dialogue_provenance() -> dict[str, Any]:
    student, educator = _templates()
    version = models.version_for_task(TASK)
    return {
        "model_version": version.name,
        "templates": {"student_teacher": student.label, "teacher_educator": educator.label},
        "checks_version": CHECKS_VERSION,
        "policy_version": POLICY_VERSION,
        "draft_samples": _draft_samples(),
    }


def dialogue_generate(spec: QuestionSpec, *, on_round: Callable[[RoundOutcome], None] | None = None) -> DialogueOutcome:
    """Run the dialogue to the signal or the round limit. `on_round` is called after each round (the
    service stores it, so the page shows rounds as they happen). Model errors other than invalid JSON
    (a server that is down, missing files) propagate: the caller keeps the rounds stored so far."""
    provenance = dialogue_provenance()
    history: list[RoundOutcome] = []
    stop_reason = "limit"
    for number in range(1, spec.max_rounds + 1):
        draft, rationale, source, draft_provenance = student_teacher_best_draft(spec, history)
        results = _checks(spec, draft)
        record: dict[str, Any] = {"student_teacher": draft_provenance}
        if checks_pass(results):
            coaching, coaching_source, is_signal, educator_provenance = teacher_educator_reply(
                spec, draft=draft, rationale=rationale
            )
            record["teacher_educator"] = educator_provenance
        elif source == "model_failed":
            coaching = (
                "Your last answer was not a valid draft: what one question, with a short rationale, would you ask?"
            )
            coaching_source, is_signal = "checks", False
        else:
            coaching, coaching_source, is_signal = checks_coaching(results), "checks", False
        outcome = RoundOutcome(
            number=number,
            draft=draft,
            rationale=rationale,
            draft_source=source,
            checks=checks_as_data(results),
            coaching=coaching,
            coaching_source=coaching_source,
            is_stop_signal=is_signal,
            provenance=record,
        )
        history.append(outcome)
        if on_round is not None:
            on_round(outcome)
        if is_signal:
            stop_reason = "signal"
            break
    passing = [outcome for outcome in history if outcome.passed]
    if passing:
        final, final_source = passing[-1].draft, "model"
    else:
        last_draft = next((outcome.draft for outcome in reversed(history) if outcome.draft), "")
        final, how = question_repair(spec, last_draft)
        final_source = "repair"
        provenance["repair"] = how
    return DialogueOutcome(
        rounds=history,
        final_question=final,
        final_source=final_source,
        final_checks=checks_as_data(_checks(spec, final)),
        stop_reason=stop_reason,
        provenance=provenance,
    )


def one_shot_generate(spec: QuestionSpec) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """The baseline: one Student-Teacher call, no coaching, no repair."""
    draft, _rationale, _source, record = student_teacher_draft(spec, [])
    return draft, checks_as_data(_checks(spec, draft)), record
