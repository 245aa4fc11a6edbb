"""Offline evaluation of the tutor policy on MathDial dialogues (`manage.py evaluate_tutor`).

Reads problems and dialogues straight from the CSV file and writes nothing to course data.

- next-turn: for every teacher turn, the policy writes the next tutor turn from the dialogue so far;
  it is compared with the human teacher's turn (sacreBLEU, ROUGE-L F1) and its move with theirs.
- interactive: a language model plays the student (given the problem, the student's incorrect
  solution and profile) and talks with the tutor for up to five tutor turns; success@5 counts the
  dialogues where the student states the final answer, telling@5 those where the tutor stated it
  before the student did.

The held-out part is the last 20% of the file's qids in sorted order; nothing in the policy is fitted
to MathDial, but figures are reported on a part that was not looked at while writing it.
"""

from __future__ import annotations

import csv
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models_runtime import api as models
from tutor.policy import POLICY_VERSION
from tutor.policy.diagnosis import first_wrong_step_by_order, first_wrong_step_label
from tutor.policy.dialogue import STUDENT, TUTOR, DialogueTurn
from tutor.policy.gate import ReplyGate
from tutor.policy.messages import states_answer
from tutor.policy.numbers import contains_number, format_number, numbers_in, same_number
from tutor.policy.plan import ReplyPlan
from tutor.policy.planning import reply_plan
from tutor.policy.solution import ProblemFacts, final_answer_from_solution
from tutor.replies import PROMPTS_DIR, STOP, TASK, reply_prompt, reply_reveals_answer

HELDOUT_FRACTION = 0.2
SIMULATED_STUDENT_TEMPLATE = PROMPTS_DIR / "simulated_student.toml"
_TEACHER_RE = re.compile(r"^\s*Teacher\s*:\s*(?:\((?P<move>\w+)\))?\s*", re.IGNORECASE)
_SPEAKER_RE = re.compile(r"^\s*[A-Z][\w .'-]{0,30}:\s*")


@dataclass
class Dialogue:
    qid: str
    facts: ProblemFacts
    incorrect_solution: str
    profile: str
    name: str
    turns: list[DialogueTurn] = field(default_factory=list)


def _name_from_profile(profile: str) -> str:
    match = re.match(r"\s*([A-Z][A-Za-z'-]*[a-z])\b", profile or "")
    return match.group(1) if match else ""


def _turns(conversation: str) -> list[DialogueTurn]:
    turns = []
    for raw in conversation.split("|EOM|"):
        teacher = _TEACHER_RE.match(raw)
        if teacher:
            move = (teacher.group("move") or "generic").lower()
            turns.append(DialogueTurn(speaker=TUTOR, text=raw[teacher.end() :].strip(), move=move))
        else:
            turns.append(DialogueTurn(speaker=STUDENT, text=_SPEAKER_RE.sub("", raw, count=1).strip()))
    return [turn for turn in turns if turn.text]


def dialogues_load(path: Path) -> list[Dialogue]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = list(csv.DictReader(handle))
    dialogues = []
    for record in records:
        solution = record.get("ground_truth", "")
        facts = ProblemFacts.build(
            statement=record.get("question", ""),
            worked_solution=solution,
            final_answer=final_answer_from_solution(solution),
        )
        dialogues.append(
            Dialogue(
                qid=record.get("qid", ""),
                facts=facts,
                incorrect_solution=record.get("student_incorrect_solution", "").strip(),
                profile=record.get("student_profile", "").strip(),
                name=_name_from_profile(record.get("student_profile", "")),
                turns=_turns(record.get("conversation", "")),
            )
        )
    return dialogues


SPLITS = ("heldout", "development", "tuning", "validation", "all")
VALIDATION_FRACTION = 0.25  # of the development qids: kept aside from tuning the policy's wording


def heldout(dialogues: list[Dialogue], *, fraction: float = HELDOUT_FRACTION, split: str = "heldout") -> list[Dialogue]:
    """The dialogues of the last `fraction` of qids (sorted), so that one problem is never on both sides.

    `split="development"` gives the other qids (what the policy's wording may be tried on), "all" all. The
    development qids are split again: "tuning" (their first 75%) is what wording is chosen on, "validation"
    (their last 25%) checks that a choice holds on problems it was not chosen on, before the held-out part.
    """
    if split == "all":
        return list(dialogues)
    qids = sorted({dialogue.qid for dialogue in dialogues}, key=lambda qid: (len(qid), qid))
    cut = int(len(qids) * (1 - fraction))
    if split == "heldout":
        kept = set(qids[cut:])
    elif split == "tuning":
        kept = set(qids[: int(cut * (1 - VALIDATION_FRACTION))])
    elif split == "validation":
        kept = set(qids[int(cut * (1 - VALIDATION_FRACTION)) : cut])
    else:
        kept = set(qids[:cut])
    return [dialogue for dialogue in dialogues if dialogue.qid in kept]


def _split_label(split: str) -> str:
    if split == "all":
        return "all dialogues"
    development = int((1 - HELDOUT_FRACTION) * 100)
    part = {
        "heldout": f"last {int(HELDOUT_FRACTION * 100)}%",
        "development": f"first {development}%",
        "tuning": f"first {int(100 - VALIDATION_FRACTION * 100)}% of the first {development}%",
        "validation": f"last {int(VALIDATION_FRACTION * 100)}% of the first {development}%",
    }[split]
    return f"{split}: {part} of qids"


def _select(dialogues: list[Dialogue], *, limit: int | None, seed: int) -> list[Dialogue]:
    chosen = list(dialogues)
    random.Random(seed).shuffle(chosen)
    return chosen[:limit] if limit else chosen


# --- the tutor's replies in batches ------------------------------------------------------------
@dataclass
class TutorReply:
    plan: ReplyPlan
    text: str
    source: str


def tutor_replies(
    items: list[tuple[Dialogue, list[DialogueTurn]]],
    *,
    attempts_before_telling: int,
    use_model: bool,
    max_new_tokens: int,
    version: Any = None,
    allows_step_hints: bool = False,
) -> list[TutorReply]:
    """The policy's next turn for each (dialogue, turns so far); the model rephrases them in one batch."""
    plans = [
        reply_plan(
            facts=dialogue.facts,
            dialogue=turns,
            attempts_before_telling=attempts_before_telling,
            student_name=dialogue.name,
            allows_step_hints=allows_step_hints,
        )
        for dialogue, turns in items
    ]
    if not use_model:
        return [TutorReply(plan=plan, text=plan.text, source="plan") for plan in plans]
    conversations = []
    template = None
    for (dialogue, turns), plan in zip(items, plans, strict=True):
        last_student = next((turn.text for turn in reversed(turns) if turn.speaker == STUDENT), "")
        template, messages = reply_prompt(statement=dialogue.facts.statement, student_message=last_student, plan=plan)
        conversations.append(messages)
    generations = models.chat_batch(
        task=TASK,
        conversations=conversations,
        template=template,
        max_new_tokens=max_new_tokens,
        stop=STOP,
        version=version,
    )
    replies = []
    for (dialogue, turns), plan, generation in zip(items, plans, generations, strict=True):
        last_student = next((turn.text for turn in reversed(turns) if turn.speaker == STUDENT), "")
        gate = ReplyGate(plan, dialogue.facts, context=last_student)
        gate.feed(generation.text)
        text, check = gate.final_text()
        replies.append(TutorReply(plan=plan, text=text, source=check if check.startswith("model") else "plan"))
    return replies


def _model_kept_rate(use_model: bool, replies: list[TutorReply]) -> float | None:
    if not use_model or not replies:
        return None
    return round(sum(1 for reply in replies if reply.source.startswith("model")) / len(replies), 4)


def evaluate_next_turn(
    *,
    path: Path,
    limit: int | None = None,
    seed: int = 0,
    use_model: bool = True,
    max_new_tokens: int = 32,
    attempts_before_telling: int = 3,
    batch_size: int = 16,
    split: str = "heldout",
    progress: Callable[[str], None] | None = None,
    version: Any = None,
    allows_step_hints: bool = False,
) -> dict[str, Any]:
    """Next-turn figures of the tutor (the model serving `tutor`, or `version`, a candidate being measured)."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    started = time.monotonic()
    dialogues = _select(heldout(dialogues_load(path), split=split), limit=limit, seed=seed)
    items: list[tuple[Dialogue, list[DialogueTurn]]] = []
    references: list[DialogueTurn] = []
    for dialogue in dialogues:
        so_far = [DialogueTurn(speaker=STUDENT, text=dialogue.incorrect_solution)]
        for turn in dialogue.turns:
            if turn.speaker == TUTOR:
                items.append((dialogue, list(so_far)))
                references.append(turn)
            so_far.append(turn)
    replies: list[TutorReply] = []
    for start in range(0, len(items), batch_size):
        replies += tutor_replies(
            items[start : start + batch_size],
            attempts_before_telling=attempts_before_telling,
            use_model=use_model,
            max_new_tokens=max_new_tokens,
            version=version,
            allows_step_hints=allows_step_hints,
        )
        if progress:
            progress(f"{len(replies)}/{len(items)} tutor turns")
    hypotheses = [reply.text for reply in replies]
    reference_texts = [turn.text for turn in references]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, hyp)["rougeL"].fmeasure for ref, hyp in zip(reference_texts, hypotheses, strict=True)]
    moves = [reply.plan.move == turn.move for reply, turn in zip(replies, references, strict=True)]
    return {
        "mode": "next-turn",
        "data": str(path),
        "split": _split_label(split),
        "dialogues": len(dialogues),
        "n": len(items),
        "sacrebleu": round(BLEU().corpus_score(hypotheses, [reference_texts]).score, 2) if items else None,
        "rouge_l": round(sum(rouge) / len(rouge), 4) if rouge else None,
        "move_accuracy": round(sum(moves) / len(moves), 4) if moves else None,
        "model_text_kept": _model_kept_rate(use_model, replies),
        "model": (version or models.version_for_task(TASK)).name if use_model else None,
        "policy": POLICY_VERSION,
        "step_hints": allows_step_hints,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
    }


def _student_messages(
    pending: list[tuple[Dialogue, list[DialogueTurn]]], *, task: str, max_new_tokens: int
) -> list[str]:
    template = models.prompt_load(SIMULATED_STUDENT_TEMPLATE)
    conversations = []
    for dialogue, turns in pending:
        history = "\n".join(
            f"{'Teacher' if turn.speaker == TUTOR else 'You'}: {turn.text}" for turn in turns[1:-1][-6:]
        )
        conversations.append(
            template.render(
                name=dialogue.name or "a student",
                profile=dialogue.profile,
                problem=dialogue.facts.statement,
                solution=dialogue.incorrect_solution[:1200],
                conversation=history or "(nothing yet)",
                teacher=turns[-1].text,
            )
        )
    generations = models.chat_batch(
        task=task, conversations=conversations, template=template, max_new_tokens=max_new_tokens, stop=("\nTeacher",)
    )
    return [_SPEAKER_RE.sub("", generation.text.strip(), count=1) or "I am not sure." for generation in generations]


def evaluate_interactive(
    *,
    path: Path,
    limit: int | None = None,
    seed: int = 0,
    use_model: bool = True,
    max_new_tokens: int = 32,
    student_max_new_tokens: int = 48,
    attempts_before_telling: int = 3,
    student_task: str = "teacher",
    tutor_turns: int = 5,
    split: str = "heldout",
    progress: Callable[[str], None] | None = None,
    allows_step_hints: bool = False,
) -> dict[str, Any]:
    started = time.monotonic()
    # One conversation per problem: the recorded dialogues of a qid share the incorrect solution.
    by_qid: dict[str, Dialogue] = {}
    for dialogue in heldout(dialogues_load(path), split=split):
        by_qid.setdefault(dialogue.qid, dialogue)
    dialogues = _select(list(by_qid.values()), limit=limit, seed=seed)
    conversations = {
        dialogue.qid: [DialogueTurn(speaker=STUDENT, text=dialogue.incorrect_solution)] for dialogue in dialogues
    }
    solved: dict[str, int] = {}
    told: dict[str, int] = {}
    active = list(dialogues)
    tutor_sources: list[TutorReply] = []
    for round_number in range(1, tutor_turns + 1):
        if not active:
            break
        replies = tutor_replies(
            [(dialogue, conversations[dialogue.qid]) for dialogue in active],
            attempts_before_telling=attempts_before_telling,
            use_model=use_model,
            max_new_tokens=max_new_tokens,
            allows_step_hints=allows_step_hints,
        )
        tutor_sources += replies
        for dialogue, reply in zip(active, replies, strict=True):
            conversations[dialogue.qid].append(DialogueTurn(speaker=TUTOR, text=reply.text, move=reply.plan.move))
            if reply_reveals_answer(reply.text, dialogue.facts) and dialogue.qid not in told:
                told[dialogue.qid] = round_number
        answers = _student_messages(
            [(dialogue, conversations[dialogue.qid]) for dialogue in active],
            task=student_task,
            max_new_tokens=student_max_new_tokens,
        )
        still_active = []
        for dialogue, answer in zip(active, answers, strict=True):
            conversations[dialogue.qid].append(DialogueTurn(speaker=STUDENT, text=answer))
            if states_answer(answer, dialogue.facts):
                solved[dialogue.qid] = round_number
            else:
                still_active.append(dialogue)
        active = still_active
        if progress:
            progress(f"round {round_number}: {len(solved)} solved, {len(told)} told, {len(active)} still going")
    count = len(dialogues)
    return {
        "mode": "interactive",
        "data": str(path),
        "split": _split_label(split) + ", one dialogue per qid",
        "dialogues": count,
        "tutor_turns": tutor_turns,
        "success_at_5": round(len(solved) / count, 4) if count else None,
        "telling_at_5": round(len(told) / count, 4) if count else None,
        "solved_without_telling": round(sum(1 for qid in solved if qid not in told) / count, 4) if count else None,
        "model_text_kept": _model_kept_rate(use_model, tutor_sources),
        "model": models.version_for_task(TASK).name if use_model else None,
        "student_model": models.version_for_task(student_task).name,
        "policy": POLICY_VERSION,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
    }


def _one_per_qid(dialogues: list[Dialogue]) -> list[Dialogue]:
    by_qid: dict[str, Dialogue] = {}
    for dialogue in dialogues:
        by_qid.setdefault(dialogue.qid, dialogue)
    return list(by_qid.values())


def evaluate_diagnosis(
    *,
    path: Path,
    limit: int | None = None,
    seed: int = 0,
    split: str = "heldout",
    attempts_before_telling: int = 3,
    allows_step_hints: bool = False,
    **_: Any,
) -> dict[str, Any]:
    """How often the tutor's first reply to MathDial's `student_incorrect_solution` points at its first wrong step.

    The label is written from the data alone (`first_wrong_step_label`: the first step of `ground_truth` whose
    result is not among the numbers of the student's solution; the final step: not their last number). The
    tutor's reply is the product's own (`reply_plan` on the opening message); it points at a step when it is
    the opening diagnosis (its target step), and "engages" when it is about the student's solution at all
    rather than the bare invitation. Problems whose worked solution has no parsed step are left out.
    """
    started = time.monotonic()
    dialogues = _select(_one_per_qid(heldout(dialogues_load(path), split=split)), limit=limit, seed=seed)
    labelled = pointed_right = engaged = praised_right = no_steps = all_right = 0
    by_order = by_order_right = 0
    examples: list[dict[str, Any]] = []
    for dialogue in dialogues:
        if not dialogue.facts.steps or not dialogue.incorrect_solution:
            no_steps += 1
            continue
        label = first_wrong_step_label(dialogue.facts, dialogue.incorrect_solution)
        if label is None:
            all_right += 1
            continue
        labelled += 1
        plan = reply_plan(
            facts=dialogue.facts,
            dialogue=[DialogueTurn(speaker=STUDENT, text=dialogue.incorrect_solution)],
            attempts_before_telling=attempts_before_telling,
            student_name=dialogue.name,
            allows_step_hints=allows_step_hints,
        )
        is_diagnosis = plan.reason.startswith("opening:")
        engaged += is_diagnosis
        is_right = is_diagnosis and plan.target_step == label
        pointed_right += is_right
        before = [step.result for step in dialogue.facts.steps if step.index < label]
        praised_right += is_right and sorted(plan.confirmed_values) == sorted(before)
        order_label = first_wrong_step_by_order(dialogue.facts, dialogue.incorrect_solution)
        if order_label is not None:
            by_order += 1
            by_order_right += is_diagnosis and plan.target_step == order_label
        if not is_right and len(examples) < 5:
            examples.append({"qid": dialogue.qid, "label": label, "pointed": plan.target_step, "reply": plan.text})
    return {
        "mode": "diagnosis",
        "data": str(path),
        "split": _split_label(split) + ", one solution per qid",
        "solutions": len(dialogues),
        "n": labelled,
        "first_wrong_step_accuracy": round(pointed_right / labelled, 4) if labelled else None,
        "engages_with_solution": round(engaged / labelled, 4) if labelled else None,
        "praise_matches_right_steps": round(praised_right / labelled, 4) if labelled else None,
        # Against the label aligned by position (the i-th calculation against the i-th step): a stricter reading.
        "n_by_order": by_order,
        "first_wrong_step_accuracy_by_order": round(by_order_right / by_order, 4) if by_order else None,
        "left_out_no_parsed_steps": no_steps,
        "left_out_every_step_right": all_right,
        "misses": examples,
        "policy": POLICY_VERSION,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
    }


# The judge of `--mode judgment`, kept apart from the gate's own word lists so that it does not grade itself.
_JUDGE_YES_RE = re.compile(r"\b(?:yes|correct|right|well done|good job|great job|exactly|spot on|you got it)\b", re.I)
_JUDGE_NO_RE = re.compile(r"\b(?:no|not|incorrect|wrong|isn't|mistake|check|recheck|again|how did you|why)\b", re.I)


def _judged_affirming(text: str) -> bool:
    return bool(_JUDGE_YES_RE.search(text)) and not _JUDGE_NO_RE.search(text)


def _wrong_answer(facts: ProblemFacts) -> str:
    value = facts.answer_value if facts.answer_value is not None else 0.0
    wrong = value + 7 if value != 0 else 7
    candidates = [step.result for step in facts.steps if not same_number(step.result, value)]
    return format_number(candidates[-1] if candidates else wrong)


def evaluate_judgment(
    *,
    path: Path,
    limit: int | None = None,
    seed: int = 0,
    use_model: bool = True,
    max_new_tokens: int = 32,
    attempts_before_telling: int = 3,
    split: str = "heldout",
    progress: Callable[[str], None] | None = None,
    allows_step_hints: bool = False,
    **_: Any,
) -> dict[str, Any]:
    """Scripted students on each problem (one per qid) and what the tutor says to them:

    (a) open with their incorrect solution, then state the right final answer: is it affirmed?
    (b) the same, then a wrong final answer (another step's result): is it left unaffirmed?
    (c) open with their whole wrong solution: does the first reply engage with it (a number they wrote, or
        the step where it goes wrong) instead of only inviting them to explain?
    (d) three wrong worked answers, then "just tell me the answer" five times: is the answer never stated?
    """
    started = time.monotonic()
    dialogues = _select(_one_per_qid(heldout(dialogues_load(path), split=split)), limit=limit, seed=seed)
    dialogues = [dialogue for dialogue in dialogues if dialogue.incorrect_solution and dialogue.facts.final_answer]
    settings: dict[str, Any] = {
        "attempts_before_telling": attempts_before_telling,
        "use_model": use_model,
        "max_new_tokens": max_new_tokens,
        "allows_step_hints": allows_step_hints,
    }

    def play(scripts: list[tuple[Dialogue, list[str]]]) -> list[list[TutorReply]]:
        conversations: list[list[DialogueTurn]] = [[] for _ in scripts]
        replies: list[list[TutorReply]] = [[] for _ in scripts]
        for position in range(max(len(messages) for _, messages in scripts)):
            active = [index for index, (_, messages) in enumerate(scripts) if position < len(messages)]
            for index in active:
                conversations[index].append(DialogueTurn(speaker=STUDENT, text=scripts[index][1][position]))
            batch = tutor_replies([(scripts[index][0], conversations[index]) for index in active], **settings)
            for index, reply in zip(active, batch, strict=True):
                replies[index].append(reply)
                conversations[index].append(DialogueTurn(speaker=TUTOR, text=reply.text, move=reply.plan.move))
        return replies

    right = play([(d, [d.incorrect_solution, f"I think the answer is {d.facts.final_answer}."]) for d in dialogues])
    wrong = play([(d, [d.incorrect_solution, f"I think the answer is {_wrong_answer(d.facts)}."]) for d in dialogues])
    if progress:
        progress("(a), (b) and (c) played")
    told = [
        (
            d,
            [
                d.incorrect_solution,
                *[f"I redid it: {_wrong_answer(d.facts)} + {n} = {n + 1000}, so {n + 1000}." for n in (1, 2)],
                *["Just tell me the answer."] * 5,
            ],
        )
        for d in dialogues
    ]
    telling = play(told)
    affirmed = [_judged_affirming(replies[-1].text) for replies in right]
    not_affirmed = [not _judged_affirming(replies[-1].text) for replies in wrong]
    engaged = []
    for dialogue, replies in zip(dialogues, right, strict=True):
        text = replies[0].text
        theirs = [
            value for value in numbers_in(dialogue.incorrect_solution) if contains_number(numbers_in(text), value)
        ]
        target = replies[0].plan.target_step
        asks_step = target is not None and dialogue.facts.steps[target].question in text
        engaged.append(bool(theirs) or asks_step)
    never_stated = [
        not any(reply_reveals_answer(reply.text, d.facts) for reply in replies)
        for d, replies in zip(dialogues, telling, strict=True)
    ]
    misses = [
        {"case": "a", "qid": d.qid, "reply": replies[-1].text}
        for d, replies, ok in zip(dialogues, right, affirmed, strict=True)
        if not ok
    ][:3] + [
        {"case": "b", "qid": d.qid, "reply": replies[-1].text}
        for d, replies, ok in zip(dialogues, wrong, not_affirmed, strict=True)
        if not ok
    ][:3]

    def share(values: list[bool]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "mode": "judgment",
        "data": str(path),
        "split": _split_label(split) + ", one problem per qid",
        "problems": len(dialogues),
        "affirms_right_answers": share(affirmed),
        "does_not_affirm_wrong_answers": share(not_affirmed),
        "engages_with_opening_solution": share(engaged),
        "answer_never_stated": share(never_stated),
        "model_text_kept": _model_kept_rate(use_model, [reply for group in right + wrong + telling for reply in group]),
        "model": models.version_for_task(TASK).name if use_model else None,
        "policy": POLICY_VERSION,
        "step_hints": allows_step_hints,
        "misses": misses,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
    }
