"""The dialogue so far: its turns, and what replaying them tells the policy (real attempts, the steps the
student has reached, stalls, whether the answer was stated or revealed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.policy.messages import Kind, is_number_spray, message_kind, states_answer
from tutor.policy.numbers import contains_number, numbers_in
from tutor.policy.solution import ProblemFacts, Step

STUDENT = "student"
TUTOR = "tutor"


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
