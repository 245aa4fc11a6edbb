"""The policy's decision for one reply (`ReplyPlan`): the move, the reply written in code and what the gate
must hold it to; stored as JSON with the reply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from tutor.policy import POLICY_VERSION

Move = Literal["focus", "probing", "telling", "generic"]
MOVES: tuple[Move, ...] = ("focus", "probing", "telling", "generic")


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
