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
from tutor.policy import (
    POLICY_VERSION,
    STUDENT,
    TUTOR,
    DialogueTurn,
    ProblemFacts,
    ReplyGate,
    ReplyPlan,
    final_answer_from_solution,
    reply_plan,
    states_answer,
)
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


SPLITS = ("heldout", "development", "all")


def heldout(dialogues: list[Dialogue], *, fraction: float = HELDOUT_FRACTION, split: str = "heldout") -> list[Dialogue]:
    """The dialogues of the last `fraction` of qids (sorted), so that one problem is never on both sides.

    `split="development"` gives the other qids (what the policy's wording may be tried on), "all" all.
    """
    if split == "all":
        return list(dialogues)
    qids = sorted({dialogue.qid for dialogue in dialogues}, key=lambda qid: (len(qid), qid))
    kept = set(qids[int(len(qids) * (1 - fraction)) :])
    return [dialogue for dialogue in dialogues if (dialogue.qid in kept) == (split == "heldout")]


def _split_label(split: str) -> str:
    if split == "all":
        return "all dialogues"
    part = (
        f"last {int(HELDOUT_FRACTION * 100)}%" if split == "heldout" else f"first {int((1 - HELDOUT_FRACTION) * 100)}%"
    )
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
