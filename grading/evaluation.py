"""Evaluating the active grader on a labelled file. Reads the file, writes nothing to course data."""

from __future__ import annotations

import time
from typing import Any

from grading.feedback import FeedbackItem, feedback_model_drafts, feedback_write
from grading.grader import active_grader_dir, bank_load
from grading.grader_model import (
    Grader,
    GradingExample,
    answer_vectors,
    grader_evaluate,
    grader_load,
    question_text_key,
)
from grading.teaching import similar_groups, teaching_order

CURVE_KS = (0, 5, 10, 20)


def text_similarity(predictions: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-L F-measure (mean) and corpus sacreBLEU of predicted feedback against the teachers'."""
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [
        scorer.score(reference, prediction)["rougeL"].fmeasure
        for prediction, reference in zip(predictions, references, strict=True)
    ]
    bleu = sacrebleu.corpus_bleu(predictions, [references]).score
    return {"feedback_rouge_l": round(sum(rouge) / max(len(rouge), 1), 4), "feedback_sacrebleu": round(bleu, 2)}


def teacher_graded_split(
    examples: list[GradingExample], *, k: int, seed: int, grader: Grader, predictions: list[Any] | None = None
) -> tuple[list[int], list[int]]:
    """(the indices a teacher grades first, the rest): per question, the first `k` answers in the review
    queue's order (`grading.teaching.teaching_order` over the grader's confidence and groups of similar
    answers). `predictions`: the grader's on `examples`, when already made."""
    if k <= 0:
        return [], list(range(len(examples)))
    predictions = predictions if predictions is not None else grader.predict(examples)
    vectors = answer_vectors([example.answer for example in examples])
    by_question: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_question.setdefault(question_text_key(example.question), []).append(index)
    graded: list[int] = []
    for rows in by_question.values():
        groups = similar_groups([0] * len(rows), [predictions[i].label for i in rows], vectors[rows])
        order = teaching_order([predictions[i].confidence for i in rows], groups, seed=seed)
        graded += [rows[j] for j in order[:k]]
    chosen = set(graded)
    return sorted(graded), [i for i in range(len(examples)) if i not in chosen]


def grader_evaluate_teacher_graded(
    examples: list[GradingExample], *, ks: tuple[int, ...], seed: int = 0, grader: Grader | None = None
) -> dict[str, Any]:
    """Per K: K answers of each question taken as graded by the teacher (their gold labels), the rest graded
    with them as that question's neighbours (no retraining); the figures on the rest."""
    started = time.monotonic()
    version_name = ""
    if grader is None:
        directory, version_name = active_grader_dir()
        grader = grader_load(directory)
    predictions = grader.predict(examples) if any(k > 0 for k in ks) else None
    curve = []
    for k in ks:
        graded, rest = teacher_graded_split(examples, k=k, seed=seed, grader=grader, predictions=predictions)
        figures = grader_evaluate(grader, [examples[i] for i in rest], graded=[examples[i] for i in graded])
        curve.append({"teacher_graded": k, "n_teacher_graded": len(graded), **figures})
    out: dict[str, Any] = {"grader_version": version_name, "seed": seed}
    out.update(curve[0] if len(curve) == 1 else {"curve": curve})
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def grader_evaluate_file(
    examples: list[GradingExample],
    *,
    include_feedback: bool = True,
    use_model_for_feedback: bool = True,
    model_feedback: bool = False,
) -> dict[str, Any]:
    """The grader's figures on `examples`; with `include_feedback`, the product's feedback (retrieved or the
    model's, as the product chooses) against the teachers'; with `model_feedback`, also the feedback the model
    serving `feedback` writes by itself for every answer (`model_feedback`: ROUGE-L, sacreBLEU, the share that
    passes the product's checks, the version), so base, untailored and tailored students compare."""
    started = time.monotonic()
    directory, version_name = active_grader_dir()
    grader = grader_load(directory)
    figures: dict[str, Any] = {"grader_version": version_name}
    figures.update(grader_evaluate(grader, examples))
    if include_feedback:
        predictions = grader.predict(examples)
        items = [
            FeedbackItem(
                question=example.question,
                question_key=question_text_key(example.question),
                reference_answers=example.reference_answers,
                answer=example.answer,
                label=prediction.label,
            )
            for example, prediction in zip(examples, predictions, strict=True)
        ]
        written = feedback_write(items, bank=bank_load(directory), use_model=use_model_for_feedback)
        references = [example.feedback for example in examples]
        pairs = [(text, reference) for (text, _), reference in zip(written, references, strict=True) if reference]
        if pairs:
            figures.update(text_similarity([pair[0] for pair in pairs], [pair[1] for pair in pairs]))
            sources = [provenance.get("feedback_source", "") for _, provenance in written]
            figures["feedback_generated_share"] = round(sources.count("generated") / len(sources), 3)
        if model_feedback:
            figures["model_feedback"] = _model_feedback_figures(items, references, bank=bank_load(directory))
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def _model_feedback_figures(items: list[FeedbackItem], references: list[str], *, bank: Any) -> dict[str, Any]:
    from models_runtime import api as models

    drafts = feedback_model_drafts(items, bank=bank)
    pairs = [(draft, reference) for (draft, _), reference in zip(drafts, references, strict=True) if reference]
    figures: dict[str, Any] = {"feedback_version": models.version_for_task("feedback").name, "answers": len(pairs)}
    if pairs:
        figures.update(text_similarity([draft for draft, _ in pairs], [reference for _, reference in pairs]))
    figures["passes_checks"] = round(sum(1 for _, passes in drafts if passes) / max(len(drafts), 1), 3)
    return figures
