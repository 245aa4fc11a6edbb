"""What the tutor's model is asked: the reply prompt, its stop strings and token budget."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from models_runtime import api as models
from tutor.policy.numbers import contains_number, numbers_in
from tutor.policy.plan import ReplyPlan
from tutor.policy.solution import ProblemFacts

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
REPLY_TEMPLATE = PROMPTS_DIR / "tutor_reply.toml"
TASK = "tutor"
STOP = ("\nStudent", "\nTeacher", "Student:", "\n\n")

MOVE_INSTRUCTIONS = {
    "generic": "Keep it short and friendly.",
    "probing": "Ask the student to explain their reasoning.",
    "focus": "Point the student at one step of their work with a question.",
    "telling": "Show the student the step they are stuck on.",
}


def reply_max_new_tokens() -> int:
    return int(getattr(settings, "TUTOR_MAX_NEW_TOKENS", 48))


def reply_time_budget() -> tuple[float | None, float | None]:
    """How long the model may take to rephrase a reply: (to its first checked sentence, to the whole reply),
    counted from when the student's message was stored.

    The planned reply is safe and already written, so the student never waits on the model for long: with
    no checked sentence after the first budget the plan streams instead, and at the second the model is
    stopped and what it had shown is completed with the plan's question. None: no limit. Measured with
    bench/tutor.py (tutor/README.md, Speed): 8 students at once otherwise waited for the model's prefill
    and decode of every reply together.
    """
    first = getattr(settings, "TUTOR_MODEL_FIRST_SENTENCE_SECONDS", 1.0)
    whole = getattr(settings, "TUTOR_MODEL_REPLY_SECONDS", 4.0)
    return (None if first is None else float(first)), (None if whole is None else float(whole))


def is_model_enabled() -> bool:
    """The model rephrases replies unless TUTOR_USE_MODEL is off (then the policy's text is sent)."""
    return bool(getattr(settings, "TUTOR_USE_MODEL", True))


def reply_prompt(*, statement: str, student_message: str, plan: ReplyPlan) -> tuple[models.PromptTemplate, list]:
    """The chat messages for one reply. The system prompt and the problem come first and are the same on
    every turn of a session, so the model server reads them once and keeps them in its prompt cache; only
    the student's message and the plan after them are new on each turn."""
    template = models.prompt_load(REPLY_TEMPLATE)
    messages = template.render(
        problem=statement,
        student_message=student_message[:1500],
        move=plan.move,
        move_instruction=MOVE_INSTRUCTIONS.get(plan.move, ""),
        planned_reply=plan.text,
    )
    return template, messages


def reply_reveals_answer(text: str, facts: ProblemFacts) -> bool:
    return facts.answer_value is not None and contains_number(numbers_in(text), facts.answer_value)
