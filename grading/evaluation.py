"""Evaluating the active grader on a labelled file. Reads the file, writes nothing to course data."""

from __future__ import annotations

import time
from typing import Any

from grading.feedback import FeedbackItem, feedback_write
from grading.grader import active_grader_dir, bank_load
from grading.grader_model import GradingExample, grader_evaluate, grader_load, question_text_key


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


def grader_evaluate_file(
    examples: list[GradingExample], *, include_feedback: bool = True, use_model_for_feedback: bool = True
) -> dict[str, Any]:
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
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures
