"""The feedback task's adapter: what a seed item is, what the teacher sees (privileged views), what the student
sees (the product's own prompt), the product's checks, and the teachers' corrections.

Seed items, the development set and the held-out answers all come from one registered data set version (SAF's
English training answers, shipped in grading/seed_data/saf_english, MIT), split by a hash of each answer:
15% held out (never drafted from, never trained on; the evaluation), 5% development (the student-preference
proxy), 80% training (seed items and the retrieval bank the prompts' examples come from).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grading import feedback as product_feedback
from grading.feedback import FeedbackBank, FeedbackItem
from grading.grader_model import question_text_key
from models_runtime import api as models

TASK = "feedback"
TARGET = "feedback"  # the row's gold output: the teacher's feedback
NAME = "grading feedback"
PRIMARY = "feedback_rouge_l"  # the held-out figure versions of this task are compared on
POLICY_VERSION = "arte-feedback-v1"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "grading" / "seed_data" / "saf_english"
DATASET_SLUG = "saf-english-feedback"
SOURCE = (
    "SAF (Filighera et al., ACL 2022), SebOchs/SAF @ 09949e9, English training answers (grading/seed_data/saf_english)"
)
LICENSE = "MIT (SAF)"
DATASET_NAME = "SAF English graded answers with teachers' feedback (split for distillation)"
DATASET_KIND = "graded_answers"
DATASET_DESCRIPTION = "Split by a hash of each answer: heldout 15%, dev 5%, train 80%."
BASELINE = "retrieval_consensus"  # the product's text without a model
# A promoted candidate's draft is kept whenever it passes the checks (grading.feedback.feedback_choose).
CANDIDATE_METRICS = {"keeps_own_draft": True}
FIGURE_COLUMNS = (
    ("feedback_rouge_l", "ROUGE-L"),
    ("feedback_sacrebleu", "sacreBLEU"),
    ("passes_checks", "Passes the product's checks"),
)
TRAINING_SET_TEXT = {
    "tailored": (
        "ARTE-tailored feedback training set",
        "Feedback examples the aligned teacher wrote and the student preferred.",
    ),
    "untailored": (
        "Untailored teacher drafts (baseline, same size)",
        "The teacher's first draft per seed item: the baseline the tailored set is compared with.",
    ),
}
HELDOUT_PERCENT, DEV_PERCENT = 15, 5
TEACHER_PROMPT = models.prompt_load(Path(__file__).resolve().parent / "prompts" / "teacher_feedback.toml")
PREFERENCE_PROMPT = models.prompt_load(Path(__file__).resolve().parent / "prompts" / "student_preference.toml")
STUDENT_PROMPT = product_feedback.PROMPT  # the student is trained on exactly the prompt the product sends it
VIEWS = ("nearest", "next_nearest")  # privileged views: teachers' feedback on the 1st-3rd and 4th-6th nearest answers
LABELS = tuple(product_feedback.LABEL_WORDS)


def split_of(question: str, answer: str) -> str:
    digest = hashlib.sha1(f"{question_text_key(question)}\x1f{answer.strip()}".encode(), usedforsecurity=False)
    bucket = int(digest.hexdigest()[:8], 16) % 100
    if bucket < HELDOUT_PERCENT:
        return "heldout"
    return "dev" if bucket < HELDOUT_PERCENT + DEV_PERCENT else "train"


def source_rows(path: Path = SOURCE_DIR) -> list[dict[str, Any]]:
    from grading.saf import saf_read

    return [
        {
            "question_id": example.question_id,
            "question": example.question,
            "reference_answers": example.reference_answers,
            "answer": example.answer,
            "label": example.label,
            "score": example.score,
            "feedback": example.feedback,
            "split": split_of(example.question, example.answer),
        }
        for example in saf_read(path)
    ]


def key(row: dict[str, Any]) -> str:
    return str(row["answer"])


def usable(row: dict[str, Any]) -> bool:
    return (
        isinstance(row.get("question"), str)
        and isinstance(row.get("answer"), str)
        and bool(str(row.get("answer", "")).strip())
        and bool(str(row.get("feedback") or "").strip())
        and row.get("label") in LABELS
        and isinstance(row.get("reference_answers"), list)
    )


def _item(row: dict[str, Any]) -> FeedbackItem:
    return FeedbackItem(
        question=row["question"],
        question_key=question_text_key(row["question"]),
        reference_answers=list(row["reference_answers"]),
        answer=row["answer"],
        label=row["label"],
    )


@dataclass
class Bank:
    """The retrieval bank (training answers that are not seed items) and the vectors of every item looked up."""

    bank: FeedbackBank
    vectors: dict[str, np.ndarray]

    def nearest(self, row: dict[str, Any], *, start: int, count: int) -> list[int]:
        vector = self.vectors[row["answer"]]
        pool = self.bank.candidates(
            vector, label=row["label"], question_key=question_text_key(row["question"]), k=start + count + 4
        )
        kept = [
            index
            for index in pool
            if self.bank.answers[index].strip() != row["answer"].strip() and not check(self.bank.feedback[index], row)
        ]
        return kept[start : start + count]


def bank_build(
    *, bank_rows: Sequence[dict[str, Any]], lookup_rows: Sequence[dict[str, Any]], cache: Path | None = None
) -> Bank:
    """The bank and the lookups' vectors; MiniLM vectors are kept in `cache` (the run's directory), so the steps
    after the first do not embed the same answers again."""
    texts = sorted({row["answer"] for row in [*bank_rows, *lookup_rows]})
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    missing = [text for text in texts if text not in known]
    if missing:
        known.update(zip(missing, models.embed([text or " " for text in missing]), strict=True))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_name(f".{cache.stem}-partial.npz")
            np.savez(temporary, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
            temporary.replace(cache)
    kept = [row for row in bank_rows if str(row.get("feedback") or "").strip()]
    bank = FeedbackBank(
        question_keys=[question_text_key(row["question"]) for row in kept],
        answers=[row["answer"] for row in kept],
        labels=[row["label"] for row in kept],
        feedback=[row["feedback"] for row in kept],
        vectors=np.stack([known[row["answer"]] for row in kept]) if kept else np.zeros((0, 384), dtype=np.float32),
    )
    return Bank(bank=bank, vectors={row["answer"]: known[row["answer"]] for row in lookup_rows})


def bank_for(
    split: dict[str, list[dict[str, Any]]], *, config: Any, cache: Path | None, report: Callable[..., None]
) -> Bank:
    """The retrieval bank for a run: training answers (not seed items) of the questions involved, at most
    `config.bank_per_question` of each."""
    needed = {row["question"] for name in ("seeds", "dev", "heldout", "corrections") for row in split[name]}
    bank_rows = [row for row in split["bank"] if row["question"] in needed]
    if config.bank_per_question:
        counts: dict[str, int] = {}
        capped = []
        for row in bank_rows:
            counts[row["question"]] = counts.get(row["question"], 0) + 1
            if counts[row["question"]] <= config.bank_per_question:
                capped.append(row)
        bank_rows = capped
    report(0, 0, f"Embedding the retrieval bank ({len(bank_rows)} graded answers)")
    lookups = [row for name in ("seeds", "dev", "heldout", "corrections") for row in split[name]]
    return bank_build(bank_rows=bank_rows, lookup_rows=lookups, cache=cache)


def training_row(row: dict[str, Any]) -> dict[str, Any]:
    """A training set row's context (everything but the output)."""
    return {name: row[name] for name in ("question", "reference_answers", "answer", "label")}


def figures_for(texts: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    from grading.evaluation import text_similarity

    figures = text_similarity(texts, [row["feedback"] for row in rows])
    figures["passes_checks"] = round(sum(1 for t, r in zip(texts, rows, strict=True) if not check(t, r)) / len(rows), 3)
    return figures


def evaluate(
    written: Callable[[Path, list[dict[str, Any]], Any], list[str]],
    models_to_measure: dict[str, Path],
    heldout_rows: list[dict[str, Any]],
    bank: Bank,
    *,
    active: Any,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Model-written feedback on the held-out answers (the product's prompt, greedy) for each model, the
    retrieval consensus, and what students would read in the product: its choice between the model's draft and
    the retrieved text, for the active version as it is and for the candidate once promoted (it keeps every
    draft that passes the checks)."""
    figures: dict[str, Any] = {"heldout_answers": len(heldout_rows), "split": "SAF English, held-out 15% of answers"}
    samples: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    for number, (name, directory) in enumerate(models_to_measure.items()):
        texts[name] = written(directory, heldout_rows, (number, len(models_to_measure), name))
        figures[name] = figures_for(texts[name], heldout_rows)
        samples[name] = texts[name][:5]
    figures[BASELINE] = figures_for(product_consensus(heldout_rows, bank), heldout_rows)
    active_keeps = bool((active.metrics or {}).get("keeps_own_draft"))
    for name, drafts, keeps in (
        ("product_active", texts["base"], active_keeps),
        ("product_candidate", texts["tailored"], True),
    ):
        chosen = product_choice(heldout_rows, bank, drafts, keeps_own_draft=keeps)
        figures[name] = figures_for([text for text, _ in chosen], heldout_rows)
        figures[name]["model_text_share"] = round(
            sum(1 for _, source in chosen if source == "generated") / max(len(chosen), 1), 3
        )
    return figures, samples


def _examples_text(bank: Bank, indexes: list[int], label: str) -> str:
    return (
        "\n".join(f'- Answer: "{bank.bank.answers[i][:300]}" -> Feedback: {bank.bank.feedback[i]}' for i in indexes)
        or f"- Feedback: {product_feedback.FALLBACK[label]}"
    )


def student_messages(row: dict[str, Any], bank: Bank) -> list[dict[str, str]]:
    """The product's own feedback prompt (grading/prompts/feedback.toml) with its three closest examples."""
    return STUDENT_PROMPT.render(
        question=row["question"],
        reference=" | ".join(row["reference_answers"]),
        rubric_met="none listed",
        rubric_missed="none listed",
        examples=_examples_text(bank, bank.nearest(row, start=0, count=3), row["label"]),
        answer=row["answer"][:1500],
        label_words=product_feedback.LABEL_WORDS[row["label"]],
    )


def teacher_messages(row: dict[str, Any], bank: Bank, view: str) -> list[dict[str, str]]:
    """What only the teacher sees: the reference, the verdict, and teachers' feedback on a set of similar answers."""
    start = VIEWS.index(view) * 3
    return TEACHER_PROMPT.render(
        question=row["question"],
        reference=" | ".join(row["reference_answers"]),
        label_words=product_feedback.LABEL_WORDS[row["label"]],
        examples=_examples_text(bank, bank.nearest(row, start=start, count=3), row["label"]),
        answer=row["answer"][:1200],
    )


def product_consensus(rows: list[dict[str, Any]], bank: Bank) -> list[str]:
    """The product's retrieval-and-consensus feedback (no model): one more teacher view."""
    written = product_feedback.feedback_write([_item(row) for row in rows], bank=bank.bank, use_model=False)
    return [text for text, _ in written]


def product_choice(
    rows: list[dict[str, Any]], bank: Bank, drafts: list[str], *, keeps_own_draft: bool
) -> list[tuple[str, str]]:
    """What the product would show for each row given these model drafts (the feedback writer's own rule,
    `grading.feedback.feedback_choose`): the text and its source (`generated` when the model's draft is kept)."""
    items = [_item(row) for row in rows]
    vectors = np.array([bank.vectors[row["answer"]] for row in rows])
    chosen = product_feedback.feedback_choose(
        items, bank=bank.bank, vectors=vectors, drafts=list(drafts), keeps_own_draft=keeps_own_draft
    )
    return [(text, choice["feedback_source"]) for text, choice in chosen]


def clean(text: str) -> str:
    text = text.strip().strip('"').strip()
    text = re.split(r"\n\s*\n|\n\s*(?:Student'?s answer|Question|Verdict|Feedback|Answer)\s*:", text)[0]
    return " ".join(text.split())


def check(text: str, row: dict[str, Any]) -> str:
    """Why the product would refuse this feedback (its own checks), or "" when it passes."""
    item = _item(row)
    if product_feedback.is_degenerate(text):
        return "degenerate"
    if product_feedback.feedback_contradiction(text, item.label):
        return "contradicts the verdict"
    if product_feedback.is_about_another_answer(text, item):
        return "quotes another answer"
    if product_feedback.reveals_reference(text, item.reference_answers, item.answer):
        return "reveals the reference"
    return ""


@functools.cache
def _tokenizer() -> Any:
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=True)


def agreement(first: str, second: str) -> float:
    """ROUGE-L F-measure of two feedback texts (the product's own agreement measure)."""
    return product_feedback.rouge_l(tuple(_tokenizer().tokenize(first)), tuple(_tokenizer().tokenize(second)))


def preference_pairs_for(row: dict[str, Any], draft: str, dev_rows: list[dict[str, Any]]) -> list[Any]:
    """(messages, gold) pairs: each development item with `draft` (on this seed item) as its one in-context example."""
    example = (
        f"Question: {row['question'][:400]}\nStudent's answer: <<<{row['answer'][:300]}>>>\n"
        f"Verdict: {product_feedback.LABEL_WORDS[row['label']]}\nFeedback: {draft}"
    )
    return [(_preference_messages(dev, example), dev["feedback"]) for dev in dev_rows]


def _preference_messages(dev: dict[str, Any], example: str) -> list[dict[str, str]]:
    return PREFERENCE_PROMPT.render(
        example=example,
        question=dev["question"][:400],
        answer=dev["answer"][:400],
        label_words=product_feedback.LABEL_WORDS[dev["label"]],
    )


def baseline_pairs(dev_rows: list[dict[str, Any]]) -> list[Any]:
    return [(_preference_messages(dev, "(none)"), dev["feedback"]) for dev in dev_rows]


def corrections() -> list[dict[str, Any]]:
    """Teachers' corrections: reviewed grades whose feedback a teacher edited (grading's selector)."""
    from grading.selectors import feedback_corrections

    rows = []
    for correction in feedback_corrections():
        row = {
            "question": correction["question"],
            "reference_answers": correction["reference_answers"],
            "answer": correction["answer"],
            "label": correction["label"],
            "feedback": correction["feedback"],
            "machine_feedback": correction["machine_feedback"],
            "machine_text": correction["machine_feedback"],
            "split": "correction",
        }
        if usable(row):
            rows.append(row)
    return rows
