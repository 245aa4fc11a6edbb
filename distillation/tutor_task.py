"""The tutor task's adapter: a seed item is one MathDial teacher turn the product's model would be asked to
say (the policy's plan for the dialogue so far, rephrasable), the gold output is what MathDial's teacher said.

What the student sees is the product's own reply prompt (`tutor.replies.reply_prompt`: the problem, the
student's last message, the move and the planned reply); what only the teacher sees is the worked solution and
how MathDial's teachers worded turns of the same move after similar student messages (two privileged views:
the 1st-3rd and the 4th-6th nearest turns of the training part). The policy's planned text itself is the
product's own view (as the retrieval consensus is for feedback). The product's check is the reply gate
(`tutor.policy.gate.ReplyGate`): a draft is usable only when the gate keeps all of it as written.

Split by qid (one problem is never on two sides), as `evaluate_tutor` splits: the last 20% of qids are held out
(the evaluation), the "validation" qids are the development set (the student-preference proxy), the "tuning"
qids the training part (seed items and the bank of teachers' turns).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grading import feedback as product_feedback
from models_runtime import api as models
from tutor.evaluation import dialogues_load, heldout
from tutor.policy.dialogue import STUDENT, TUTOR, DialogueTurn
from tutor.policy.gate import ReplyGate
from tutor.policy.plan import ReplyPlan, plan_from_dict, plan_to_dict
from tutor.policy.planning import reply_plan
from tutor.policy.solution import ProblemFacts
from tutor.replies import STOP, reply_prompt

TASK = "tutor"
TARGET = "reply"  # the row's gold output: what the teacher said
NAME = "tutor turns"
PRIMARY = "sacrebleu"  # the held-out figure versions of this task are compared on (issue 15's next-turn figure)
POLICY_VERSION = "arte-tutor-v1"
SOURCE_FILE = Path(__file__).resolve().parent / "seed_data" / "mathdial" / "mathdial_dev.csv"
DATASET_SLUG = "mathdial-tutor-turns"
DATASET_NAME = "MathDial teacher turns with the tutor's plans (split by qid for distillation)"
DATASET_KIND = "tutoring_sessions"
DATASET_DESCRIPTION = (
    "Split by qid as evaluate_tutor splits: heldout the last 20%, dev the validation qids, train the rest."
)
SOURCE = (
    "MathDial (Macina et al., Findings of EMNLP 2023), eth-nlped/mathdial @ b452be4, mathdial_dev.csv "
    "(distillation/seed_data/mathdial)"
)
LICENSE = "CC BY-SA 4.0 (MathDial)"
TEACHER_PROMPT = models.prompt_load(Path(__file__).resolve().parent / "prompts" / "teacher_tutor.toml")
PREFERENCE_PROMPT = models.prompt_load(Path(__file__).resolve().parent / "prompts" / "student_preference_tutor.toml")
VIEWS = ("nearest", "next_nearest")  # MathDial teachers' turns after the 1st-3rd and the 4th-6th nearest messages
BASELINE = "plan"  # the product's text without a model: the policy's planned reply
ATTEMPTS_BEFORE_TELLING = 3  # the course default
CANDIDATE_METRICS: dict[str, Any] = {}  # a promoted tutor model's text is kept whenever the gate passes it
FIGURE_COLUMNS = (
    ("sacrebleu", "sacreBLEU"),
    ("rouge_l", "ROUGE-L"),
    ("model_text_kept", "Model's text kept by the gate"),
)
TRAINING_SET_TEXT = {
    "tailored": (
        "ARTE-tailored tutor-turn training set",
        "Tutor turns the aligned teacher wrote and the student preferred.",
    ),
    "untailored": ("Untailored teacher drafts (baseline, same size)", "The teacher's first draft per seed turn."),
}


def _split_by_qid(path: Path) -> dict[str, str]:
    dialogues = dialogues_load(path)
    split = {dialogue.qid: "train" for dialogue in heldout(dialogues, split="tuning")}
    split.update({dialogue.qid: "dev" for dialogue in heldout(dialogues, split="validation")})
    split.update({dialogue.qid: "heldout" for dialogue in heldout(dialogues, split="heldout")})
    return split


def _normal(text: str) -> str:
    return " ".join(text.split())


def source_rows(path: Path = SOURCE_FILE) -> list[dict[str, Any]]:
    """One row per MathDial teacher turn that answers a student's message and whose plan the model may say."""
    splits = _split_by_qid(path)
    rows = []
    for number, dialogue in enumerate(dialogues_load(path)):
        so_far = [DialogueTurn(speaker=STUDENT, text=dialogue.incorrect_solution)]
        for index, turn in enumerate(dialogue.turns):
            if turn.speaker == TUTOR and so_far[-1].speaker == STUDENT and turn.text.strip():
                plan = reply_plan(
                    facts=dialogue.facts,
                    dialogue=so_far,
                    attempts_before_telling=ATTEMPTS_BEFORE_TELLING,
                    student_name=dialogue.name,
                )
                if plan.is_rephrasable:
                    rows.append(
                        {
                            "key": f"{dialogue.qid}:{number}:{index}",
                            "qid": dialogue.qid,
                            "question": dialogue.facts.statement,
                            "solution": dialogue.facts.worked_solution,
                            "final_answer": dialogue.facts.final_answer,
                            "student_message": so_far[-1].text[:1500],
                            "plan": plan_to_dict(plan),
                            "move": turn.move,
                            TARGET: _normal(turn.text),
                            "split": splits.get(dialogue.qid, "train"),
                        }
                    )
            so_far.append(turn)
    return rows


def key(row: dict[str, Any]) -> str:
    return str(row["key"])


def usable(row: dict[str, Any]) -> bool:
    return (
        all(isinstance(row.get(name), str) for name in ("key", "question", "solution", "student_message"))
        and bool(str(row.get(TARGET) or "").strip())
        and isinstance(row.get("plan"), dict)
        and bool(str(row["plan"].get("text") or "").strip())
    )


def _plan(row: dict[str, Any]) -> ReplyPlan:
    return plan_from_dict(row["plan"])


def _facts(row: dict[str, Any]) -> ProblemFacts:
    return ProblemFacts.build(
        statement=row["question"], worked_solution=row.get("solution", ""), final_answer=row.get("final_answer", "")
    )


@dataclass
class Bank:
    """MathDial teachers' turns of the training part that are not seed items, and every looked-up row's vector
    (MiniLM of the student's message and the planned reply)."""

    rows: list[dict[str, Any]]
    matrix: np.ndarray
    vectors: dict[str, np.ndarray]

    def nearest(self, row: dict[str, Any], *, start: int, count: int) -> list[int]:
        if not self.rows:
            return []
        similarity = self.matrix @ self.vectors[key(row)]
        order = np.argsort(-similarity)
        move = _plan(row).move
        kept = [
            int(index)
            for index in order
            if self.rows[index]["qid"] != row.get("qid") and _plan(self.rows[index]).move == move
        ]
        return kept[start : start + count]


def _lookup_text(row: dict[str, Any]) -> str:
    return f"{row['student_message'][:400]} || {row['plan']['text']}"


def bank_for(split: dict[str, list[dict[str, Any]]], *, config: Any, cache: Path | None, report: Callable) -> Bank:
    seed_keys = {key(row) for row in split["seeds"]}
    bank_rows = [row for row in split["bank"] if key(row) not in seed_keys]
    if config.bank_per_question:
        per_qid: dict[str, int] = {}
        capped = []
        for row in bank_rows:
            per_qid[row["qid"]] = per_qid.get(row["qid"], 0) + 1
            if per_qid[row["qid"]] <= config.bank_per_question:
                capped.append(row)
        bank_rows = capped
    report(0, 0, f"Embedding the bank of teachers' turns ({len(bank_rows)} turns)")
    lookups = [row for name in ("seeds", "dev", "heldout", "corrections") for row in split[name]]
    texts = sorted({_lookup_text(row) for row in [*bank_rows, *lookups]})
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    missing = [text for text in texts if text not in known]
    if missing:
        known.update(zip(missing, models.embed(missing), strict=True))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_name(f".{cache.stem}-partial.npz")
            np.savez(temporary, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
            temporary.replace(cache)
    matrix = np.stack([known[_lookup_text(row)] for row in bank_rows]) if bank_rows else np.zeros((0, 384), np.float32)
    return Bank(rows=bank_rows, matrix=matrix, vectors={key(row): known[_lookup_text(row)] for row in lookups})


def _examples_text(bank: Bank, indexes: list[int]) -> str:
    return (
        "\n".join(
            f'- Student: "{bank.rows[i]["student_message"][:200]}" -> Teacher: {bank.rows[i][TARGET]}' for i in indexes
        )
        or "- (none)"
    )


def student_messages(row: dict[str, Any], bank: Bank) -> list[dict[str, str]]:
    """The product's own reply prompt (tutor/prompts/tutor_reply.toml), as the tutor sends it."""
    _, messages = reply_prompt(statement=row["question"], student_message=row["student_message"], plan=_plan(row))
    return list(messages)


def teacher_messages(row: dict[str, Any], bank: Bank, view: str) -> list[dict[str, str]]:
    start = VIEWS.index(view) * 3
    plan = _plan(row)
    return TEACHER_PROMPT.render(
        problem=row["question"],
        solution=row.get("solution", ""),
        examples=_examples_text(bank, bank.nearest(row, start=start, count=3)),
        student_message=row["student_message"][:1200],
        move=plan.move,
        planned_reply=plan.text,
    )


def product_consensus(rows: list[dict[str, Any]], bank: Bank) -> list[str]:
    """The product's text without a model: the policy's planned reply."""
    return [_plan(row).text for row in rows]


_STOP_RE = re.compile("|".join(re.escape(stop) for stop in STOP))


def clean(text: str) -> str:
    text = _STOP_RE.split(text.strip())[0]
    text = re.sub(r"^\s*(?:Teacher|Tutor)\s*:\s*", "", text).strip().strip('"').strip()
    return _normal(text)


def gated(text: str, row: dict[str, Any]) -> tuple[str, str]:
    """What the product's gate sends for this model text, and why: ("model" when all of it is kept)."""
    gate = ReplyGate(_plan(row), _facts(row), context=row["student_message"])
    gate.feed(text)
    return gate.final_text()


def check(text: str, row: dict[str, Any]) -> str:
    """Why the gate would not send this text as written, or "" when it keeps all of it."""
    if not text.strip():
        return "empty"
    final, why = gated(text, row)
    return "" if why == "model" and final.strip() == text.strip() else why


@functools.cache
def _tokenizer() -> Any:
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=True)


def agreement(first: str, second: str) -> float:
    return product_feedback.rouge_l(tuple(_tokenizer().tokenize(first)), tuple(_tokenizer().tokenize(second)))


def _preference_messages(dev: dict[str, Any], example: str) -> list[dict[str, str]]:
    plan = _plan(dev)
    return PREFERENCE_PROMPT.render(
        example=example,
        problem=dev["question"][:600],
        student_message=dev["student_message"][:400],
        move=plan.move,
        planned_reply=plan.text,
    )


def preference_pairs_for(row: dict[str, Any], draft: str, dev_rows: list[dict[str, Any]]) -> list[Any]:
    """(messages, gold) pairs: each development turn with `draft` (on this seed turn) as its in-context example."""
    plan = _plan(row)
    example = (
        f'Student: """{row["student_message"][:300]}"""\nMove: {plan.move}. Planned reply: {plan.text}\n'
        f"Teacher: {draft}"
    )
    return [(_preference_messages(dev, example), dev[TARGET]) for dev in dev_rows]


def baseline_pairs(dev_rows: list[dict[str, Any]]) -> list[Any]:
    return [(_preference_messages(dev, "(none)"), dev[TARGET]) for dev in dev_rows]


def corrections() -> list[dict[str, Any]]:
    """Teachers' corrections: flagged tutor turns with the better reply a teacher wrote (tutor's selector)."""
    from tutor.selectors import reply_corrections

    rows = []
    for correction in reply_corrections():
        row = {
            "key": f"correction:{correction['turn_id']}",
            "qid": f"course-problem-{correction['problem_id']}",
            "question": correction["statement"],
            "solution": correction["worked_solution"],
            "final_answer": correction["final_answer"],
            "student_message": correction["student_message"][:1500],
            "plan": correction["plan"],
            "move": correction["plan"].get("move", ""),
            TARGET: _normal(correction["better_reply"]),
            "machine_text": correction["machine_reply"],
            "split": "correction",
        }
        if usable(row):
            rows.append(row)
    return rows


def training_row(row: dict[str, Any]) -> dict[str, Any]:
    """A training set row's context (everything but the output)."""
    return {
        name: row[name]
        for name in ("key", "qid", "question", "solution", "final_answer", "student_message", "plan", "move")
        if name in row
    }


def evaluate(
    written: Callable[[Path, list[dict[str, Any]], Any], list[str]],
    models_to_measure: dict[str, Path],
    heldout_rows: list[dict[str, Any]],
    bank: Bank,
    *,
    active: Any = None,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Next-turn figures on the held-out turns: what the gate sends for each model's text (the product's reply),
    against MathDial's teachers; the share of turns whose model text the gate keeps; the plan alone."""
    figures: dict[str, Any] = {"heldout_turns": len(heldout_rows), "split": "MathDial, held-out last 20% of qids"}
    samples: dict[str, list[str]] = {}
    for number, (name, directory) in enumerate(models_to_measure.items()):
        texts = written(directory, heldout_rows, (number, len(models_to_measure), name))
        sent = [gated(text, row) for text, row in zip(texts, heldout_rows, strict=True)]
        figures[name] = next_turn_figures([text for text, _ in sent], heldout_rows)
        figures[name]["model_text_kept"] = round(
            sum(1 for _, why in sent if why.startswith("model")) / max(len(sent), 1), 3
        )
        figures[name]["passes_checks"] = round(
            sum(1 for text, row in zip(texts, heldout_rows, strict=True) if not check(text, row)) / max(len(texts), 1),
            3,
        )
        samples[name] = [text for text, _ in sent[:5]]
    figures[BASELINE] = next_turn_figures(product_consensus(heldout_rows, bank), heldout_rows)
    figures[BASELINE]["model_text_kept"] = 0.0
    return figures, samples


def next_turn_figures(texts: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """sacreBLEU (corpus) and mean ROUGE-L F1 against MathDial's teachers' turns, as `evaluate_tutor` reports."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    references = [row[TARGET] for row in rows]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, hyp)["rougeL"].fmeasure for ref, hyp in zip(references, texts, strict=True)]
    return {
        "sacrebleu": round(BLEU().corpus_score(list(texts), [references]).score, 2) if texts else 0.0,
        "rouge_l": round(sum(rouge) / len(rouge), 4) if rouge else 0.0,
    }
