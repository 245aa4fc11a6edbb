"""Choosing the next move and writing the reply in that move (`reply_plan`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tutor.policy.checks import forbidden_values_for, plan_text_violation
from tutor.policy.diagnosis import Diagnosis, solution_diagnose
from tutor.policy.dialogue import STUDENT, DialogueState, DialogueTurn, dialogue_state
from tutor.policy.messages import ANSWER_CUE_RE, as_written, message_kind, stated_answer_values, wrong_computation
from tutor.policy.numbers import contains_number, format_number, numbers_in, same_number
from tutor.policy.plan import Move, ReplyPlan
from tutor.policy.solution import ProblemFacts, Step, step_after
from tutor.policy.wording import (
    first_name,
    focus_question,
    invitation,
    last_tutor_text,
    nudge,
    safe_probing_reply,
    why_question,
)


@dataclass
class _Planner:
    """The context of one reply: builds plans that always pass the check."""

    facts: ProblemFacts
    dialogue: Sequence[DialogueTurn]
    state: DialogueState
    target: Step | None
    forbidden: list[float]
    is_rephrasable: bool = True  # off once the reply must say something exactly (a refusal)

    def focus(self, step: Step, *, lead: str = "Okay, so") -> str:
        """The step's focus question, taking up what the student's last message says (`focus_question`)."""
        student_text = next((turn.text for turn in reversed(self.dialogue) if turn.speaker == STUDENT), "")
        return focus_question(step, facts=self.facts, student_text=student_text, forbidden=self.forbidden, lead=lead)

    def violation(
        self,
        text: str,
        *,
        revealed: Sequence[float | None] = (),
        confirmed: Sequence[float | None] = (),
        is_solved: bool = False,
    ) -> str | None:
        """Why this text may not be the plan's (the gate's checks on the policy's own text), or None."""
        shown = [value for value in revealed if value is not None]
        student_text = next((turn.text for turn in reversed(self.dialogue) if turn.speaker == STUDENT), "")
        return plan_text_violation(
            text,
            facts=self.facts,
            forbidden_values=[value for value in self.forbidden if not contains_number(shown, value)],
            is_telling_allowed=bool(shown),
            confirmed_values=tuple(value for value in confirmed if value is not None),
            is_solved=is_solved,
            student_text=student_text,
        )

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
        found = self.violation(text, revealed=revealed, confirmed=confirmed, is_solved=is_solved)
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
    name = first_name(student_name)
    target = step_after(facts, state.known_steps)
    planner = _Planner(
        facts=facts,
        dialogue=dialogue,
        state=state,
        target=target,
        forbidden=forbidden_values_for(facts, known_steps=state.known_steps, is_telling_allowed=False),
    )
    make = planner.make

    if last is None:
        return make("generic", invitation(name, anonymous="Hi, could you"), "the dialogue starts")

    kind = message_kind(last.text, facts)
    if kind == "abusive":
        text = "Let's keep our chat kind and about the problem. When you're ready, show me your next step."
        return make("generic", text, "abusive message", flag="abusive")
    if kind == "off_topic":
        text = f"Let's stay with the problem for now. {nudge(facts, target)}"
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
        text = invitation(name, anonymous="Thanks. Could you")
        return make("generic", text, "first tutor turn: invite an explanation")

    refusal, flag = "", ""
    if kind == "manipulation":
        refusal, flag = "I can't give you the answer, but you can work it out yourself. ", "manipulation"
    elif kind == "answer_request":
        refusal = "I won't just give you the answer, but we can get there together. "

    planner.is_rephrasable = not refusal
    lead = "So" if refusal else "Okay, so"  # after "I can't give you the answer, but ...", not "Okay"
    claimed = stated_answer_values(last.text) if ANSWER_CUE_RE.search(last.text) else []
    if (
        state.last_progress
        and target is not None
        and any(same_number(value, step.result) for value in claimed[-1:] for step in state.last_progress)
    ):
        # A right intermediate result put forward as the answer: praising it would read as "your answer is
        # right", so the reply says it is not the end yet and asks for the next step.
        text = f"That is not the final answer yet. {planner.focus(target, lead='So')}"
        return make("focus", text, "a step's result given as the answer: not the end yet", level=1, flag=flag)
    if state.last_progress and target is not None:
        praise = f"Yes, {format_number(state.last_progress[-1].result)} is right. "
        text = praise + planner.focus(target, lead="So")
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
        wrong = wrong_computation(last.text, facts)
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
                text = planner.focus(target, lead=lead)
                return make("focus", refusal + text, "a wrong calculation: focus on the step", level=1, flag=flag)
            text = why_question(expression)
            return make("probing", refusal + text, "probe the step that leaves the solution", level=1, flag=flag)
        diagnosis = solution_diagnose(facts, last.text, known_steps=state.known_steps)
        theirs = [value for value in numbers_in(last.text) if facts.step_for_value(value) is None]
        if diagnosis.student_value is not None:
            # The number they got for the first step that leaves the solution, not just their last number
            # (a right intermediate result that is in no step is not a mistake to ask about).
            theirs = [diagnosis.student_value]
        if theirs and kind == "attempt":
            text = f"Can you tell me how you got {as_written(last.text, theirs[-1])}?"
            if target is not None:
                text += f" {target.question}"
            return make("probing", refusal + text, "probe a number not in the solution", level=1, flag=flag)
        if kind == "confused" and target is not None:
            text = planner.focus(target, lead=lead)
            return make("focus", refusal + text, "unsure: focus on the step", level=1, flag=flag)
        if target is not None and state.tutor_turns >= 1:
            # They have told us how they went about it, with no new numbers: asking again would repeat
            # the opening question, so point at the first step they have not reached.
            text = planner.focus(target, lead=lead)
            return make("focus", refusal + text, "explained without numbers: focus on the step", level=1, flag=flag)
        text = "Can you tell me how you worked it out, step by step?"
        return make("probing", refusal + text, "ask for the reasoning", level=1, flag=flag)
    if target is None:
        # No step to point at: back to what the problem asks, as MathDial's teachers do.
        text = "What does the question ask you to find out?"
        return make("probing", refusal + text, "no parsed steps: ask what the question asks", level=2, flag=flag)
    last_tutor = last_tutor_text(dialogue)
    if not may_hint:
        # No step hints (the course's setting, or not enough attempts yet): ask for the step in other words
        # each time, never its calculation.
        candidates = [
            planner.focus(target, lead=lead),
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
    You got 150 and 300 right. Can you tell me how you got 600?"), or the first missing step's question.

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
    invitation = f"{greeting} please walk me through your solution?"
    if diagnosis.student_value is not None:
        got = as_written(planner.dialogue[-1].text, diagnosis.student_value)
        ask = f"Can you tell me how you got {got}?"
        reason = "opening: the first wrong step of the student's solution"
    else:
        ask = target.question
        reason = "opening: the first missing step of the student's solution"
    # A praised result or the number asked about may be one the reply must not state (the student wrote the
    # final answer's value along the way): then less is said, and the opening invitation always stands.
    candidates = [
        (f"{invitation}{praise} {ask}", confirmed),
        (f"{invitation} {ask}", []),
        (f"{invitation} {target.question}", []),
    ]
    for text, praised in candidates:
        if planner.violation(text, confirmed=praised) is None:
            return planner.make("generic", text, reason, level=1, confirmed=praised)
    return planner.make("generic", invitation, "opening: the invitation (the diagnosis failed the check)")


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
        text = planner.focus(target, lead="So")
        return planner.make("focus", text, "the last step: asked, not told", level=2, flag=flag)
    following = step_after(facts, {*state.known_steps, target.index})
    text = f"Let me show you this step: {target.line.rstrip('.')}."
    text += f" Now: {following.question}" if following is not None else " Can you see why?"
    reason = "enough real attempts: tell the step the student is stuck on"
    return planner.make("telling", text, reason, level=3, flag=flag, revealed=[target.result], tells_step=True)
