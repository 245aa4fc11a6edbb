"""Written feedback on a graded answer.

Retrieve, then write, then choose:

1. The teacher-approved feedback on the most similar graded answers with the same verdict (this
   question's first; other questions' when this one has too few) are the candidates.
2. The student model writes feedback from the question, the references, the verdict and the three
   closest examples.
3. The text that agrees most with what teachers wrote for the similar answers wins (minimum Bayes
   risk: the candidate with the highest similarity-weighted ROUGE-L to the other candidates). The
   model's text is one candidate among them, so a better model wins more often.

Code has the last word: feedback that contradicts the verdict (one check, `feedback_contradiction`, the
same that refuses a release), reveals a hidden reference answer, or is empty or degenerate is never
chosen; with no candidate left, a plain sentence for the verdict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.text import repeats_span
from models_runtime import api as models

PROMPT = models.prompt_load(Path(__file__).resolve().parent / "prompts" / "feedback.toml")
LABEL_WORDS = {
    "correct": "correct",
    "partially_correct": "partially correct",
    "incorrect": "incorrect",
}
FALLBACK = {
    "correct": "Your answer is correct.",
    "partially_correct": "Your answer is partially correct: part of what the question asks for is missing.",
    "incorrect": "Your answer is not correct yet. Look again at what the question asks for.",
}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class FeedbackItem:
    question: str
    question_key: str
    reference_answers: list[str]
    answer: str
    label: str
    rubric_met: list[str] = field(default_factory=list)
    rubric_missed: list[str] = field(default_factory=list)
    is_reference_hidden: bool = True


CANDIDATES = 20  # teacher feedback texts the choice is made among
# How long one batch (a grading chunk: up to 16 answers) waits for the model's drafts; a draft not written by
# then is stopped, and its answer gets the teachers' feedback chosen from the candidates, as when the model
# server is down (`feedback_model_unavailable` in the provenance says so). The 135M student's drafts win
# the choice about 1% of the time (docs/decisions/0003), so a teacher waiting for the first grades of a
# loaded 2-core machine (the demo's 12 answers: ~8,000 prompt tokens, 100-200 read per second with one
# thread there) gets them in under a minute instead of several; a quiet one writes every draft in time.
DRAFT_SECONDS = 40.0
MIN_SAME_QUESTION = 3  # below this many same-verdict answers of the question, other questions' count too
SIMILARITY_TEMPERATURE = 0.1


@functools.cache
def _rouge_tokenizer() -> Any:
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=True)


def _rouge_tokens(text: str) -> tuple[str, ...]:
    return tuple(_rouge_tokenizer().tokenize(text))


def rouge_l(first: Sequence[str], second: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token sequences (what `rouge_score` computes, without its overhead)."""
    if not first or not second:
        return 0.0
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    common = previous[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(second), common / len(first)
    return 2 * precision * recall / (precision + recall)


@dataclass
class FeedbackBank:
    """Graded answers with teacher feedback, embedded once: the examples feedback is written from."""

    question_keys: list[str]
    answers: list[str]
    labels: list[str]
    feedback: list[str]
    vectors: np.ndarray
    _tokens: dict[int, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _agreement: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)

    def tokens(self, index: int) -> tuple[str, ...]:
        if index not in self._tokens:
            self._tokens[index] = _rouge_tokens(self.feedback[index])
        return self._tokens[index]

    def agreement(self, first: int, second: int) -> float:
        """ROUGE-L between two banked feedback texts (cached: batches share candidates)."""
        key = (first, second) if first < second else (second, first)
        if key not in self._agreement:
            self._agreement[key] = rouge_l(self.tokens(first), self.tokens(second))
        return self._agreement[key]

    def candidates(self, vector: np.ndarray, *, label: str, question_key: str, k: int = CANDIDATES) -> list[int]:
        """The k most similar answers with this verdict: this question's, or all questions' if it has too few."""
        if not self.answers:
            return []
        labels = np.array(self.labels)
        same_label = labels == label
        same_question = same_label & (np.array(self.question_keys) == question_key)
        pool = np.flatnonzero(same_question if same_question.sum() >= MIN_SAME_QUESTION else same_label)
        similarity = self.vectors[pool] @ vector
        return pool[np.argsort(-similarity)][:k].tolist()

    @classmethod
    def build(cls, rows: list[tuple[str, str, str, str]]) -> FeedbackBank:
        """rows: (question_key, answer, label, feedback); rows without feedback are skipped."""
        kept = [row for row in rows if row[3].strip()]
        vectors = models.embed([row[1] for row in kept]) if kept else np.zeros((0, 384), dtype=np.float32)
        return cls(
            question_keys=[row[0] for row in kept],
            answers=[row[1] for row in kept],
            labels=[row[2] for row in kept],
            feedback=[row[3] for row in kept],
            vectors=vectors,
        )


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# A verdict the feedback states: "Correct.", "... is partially correct", "the response is incorrect", "That's
# right", "you got it wrong".
# "The correct answer is" and "correctly" state none: only a verdict said of the answer counts.
_VERDICT = re.compile(
    r"(?:^|[.!?;:]\s*|\b(?:is|are|was|be|being|seems|looks)\s+|\b(?:that|it|this|you)['’](?:s|re)\s+|"
    r"\bgot\s+(?:it|this|that)\s+)"
    r"(not\s+(?:quite\s+|entirely\s+|fully\s+|completely\s+)?|(?:only\s+)?(?:partially|partly|mostly|half)\s+|"
    r"(?:fully|completely|entirely|totally|absolutely|also)\s+)?"
    r"(correct|incorrect|right|wrong)\b",
    re.IGNORECASE,
)
_PARTIAL_CUES = {
    "positive": re.compile(r"\b(correctly|right(ly)?|but|however|although|though|part|parts|first|second)\b", re.I),
    "negative": re.compile(r"\b(but|however|although|though|missing|miss(es)?|lacks?|incomplete|not|only)\b", re.I),
}
_PARTIAL_PREFIX = ("partially", "partly", "mostly", "half", "only", "not quite", "not entirely", "not fully")


def feedback_verdicts(text: str) -> set[str]:
    """The verdicts the feedback states about the answer (labels), e.g. {"partially_correct"}."""
    verdicts: set[str] = set()
    for match in _VERDICT.finditer(text or ""):
        prefix, word = (match.group(1) or "").strip().lower(), match.group(2).lower()
        if prefix.startswith(_PARTIAL_PREFIX):
            verdicts.add("partially_correct")
        elif word in ("incorrect", "wrong") or prefix.startswith("not"):
            verdicts.add("incorrect")
        else:
            verdicts.add("correct")
    return verdicts


def feedback_contradiction(text: str, label: str) -> str:
    """The verdict the feedback states against the label ("partially correct"), or "" when they agree.

    Both a correct and an incorrect part make a partially correct verdict; a correct grade may say
    that a part is correct but not that anything is wrong or only partly right."""
    stated = feedback_verdicts(text)
    if not stated or label in stated:
        if label == "correct" and stated & {"partially_correct", "incorrect"}:
            return LABEL_WORDS["partially_correct" if "partially_correct" in stated else "incorrect"]
        if label == "incorrect" and "partially_correct" in stated:
            return LABEL_WORDS["partially_correct"]
        return ""
    if label == "partially_correct" and (
        {"correct", "incorrect"} <= stated
        or (stated == {"incorrect"} and _PARTIAL_CUES["positive"].search(text))
        or (stated == {"correct"} and _PARTIAL_CUES["negative"].search(text))
    ):
        return ""  # a verdict on one part of a partly correct answer
    wrong = "partially_correct" if "partially_correct" in stated else sorted(stated)[0]
    return LABEL_WORDS[wrong]


_QUOTED = re.compile(r"[\"“]([^\"”]{3,120})[\"”]")


def feedback_unsupported_points(text: str, item: FeedbackItem) -> list[str]:
    """Phrases the feedback quotes as the student's that this answer does not contain."""
    said = _norm(item.answer + " " + item.question + " " + " ".join(item.reference_answers))
    return [phrase for phrase in _QUOTED.findall(text) if _norm(phrase) not in said]


def _norm(text: str) -> str:
    return " ".join(_words(text))


def is_about_another_answer(text: str, item: FeedbackItem) -> bool:
    """Feedback written for a different answer: it quotes what this one never says.

    Only quotations are checked: measured on SAF's teacher feedback, words absent from the answer are as
    common in a teacher's feedback on that very answer (what is missing) as in feedback on another one."""
    return bool(feedback_unsupported_points(text, item))


_SENTENCES = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def feedback_for_new_label(text: str, label: str) -> str:
    """The feedback after a teacher changed the label: every sentence that states another verdict goes,
    and when what is left states none, the label's own sentence leads. The rest (what the answer says,
    what is missing) is kept for the teacher to read and edit."""
    kept = [
        sentence.strip()
        for sentence in _SENTENCES.findall(text or "")
        if sentence.strip() and not feedback_contradiction(sentence, label)
    ]
    if not any(label in feedback_verdicts(sentence) for sentence in kept):
        kept.insert(0, FALLBACK[label])
    return " ".join(kept)


def reveals_reference(text: str, references: list[str], answer: str, *, span: int = 6) -> bool:
    """True if the feedback repeats `span` consecutive words of a reference that the student did not write."""
    return repeats_span(text, references, span=span, allowed=answer)


def is_degenerate(text: str) -> bool:
    words = _words(text)
    if len(words) < 3:
        return True
    return len(set(words)) < len(words) * 0.35  # loops such as "the the the ..."


def _clean(text: str) -> str:
    text = text.strip().strip('"').strip()
    text = re.split(r"\n\s*(?:Student'?s answer|Question|Verdict|Feedback)\s*:", text)[0]
    return text.strip()


def _weights(bank: FeedbackBank, vector: np.ndarray, rows: list[int]) -> np.ndarray:
    similarity = bank.vectors[rows] @ vector
    return np.exp((similarity - similarity.max()) / SIMILARITY_TEMPERATURE)


def _consensus(agreements: np.ndarray, weights: np.ndarray) -> float:
    """Similarity-weighted mean agreement of one text with the candidates (the expected ROUGE-L)."""
    total = float(weights.sum())
    return float((agreements * weights).sum()) / total if total > 0 else 0.0


def _unusable(text: str, item: FeedbackItem) -> bool:
    return (
        is_degenerate(text)
        or bool(feedback_contradiction(text, item.label))
        or is_about_another_answer(text, item)
        or (item.is_reference_hidden and reveals_reference(text, item.reference_answers, item.answer))
    )


def _version_keeps_own_draft() -> bool:
    """Whether the version writing feedback is one an admin promoted from a distillation run (issue 23): its
    draft is kept whenever it passes the checks, instead of only when it agrees with the retrieved texts."""
    try:
        return bool((models.version_for_task("feedback").metrics or {}).get("keeps_own_draft"))
    except models.ModelError:
        return False


def _pools_and_prompts(
    items: list[FeedbackItem], *, bank: FeedbackBank, vectors: np.ndarray
) -> tuple[list[list[int]], list[list[dict[str, str]]]]:
    """For each item: the usable candidates (teachers' texts on similar answers) and the model's prompt, which
    shows the three closest of them as examples."""
    pools: list[list[int]] = []
    prompts: list[list[dict[str, str]]] = []
    for item, vector in zip(items, vectors, strict=True):
        pool = [
            index
            for index in bank.candidates(vector, label=item.label, question_key=item.question_key)
            if not _unusable(bank.feedback[index], item)
        ]
        pools.append(pool)
        example_text = (
            "\n".join(
                f'- Answer: "{bank.answers[index][:300]}" -> Feedback: {bank.feedback[index]}' for index in pool[:3]
            )
            or f"- Feedback: {FALLBACK[item.label]}"
        )
        prompts.append(
            PROMPT.render(
                question=item.question,
                reference=" | ".join(item.reference_answers),
                rubric_met="; ".join(item.rubric_met) or "none listed",
                rubric_missed="; ".join(item.rubric_missed) or "none listed",
                examples=example_text,
                answer=item.answer[:1500],
                label_words=LABEL_WORDS[item.label],
            )
        )
    return pools, prompts


def feedback_model_drafts(
    items: list[FeedbackItem], *, bank: FeedbackBank, max_new_tokens: int = 70
) -> list[tuple[str, bool]]:
    """What the model serving `feedback` writes by itself for each item, with the product's prompt, cleaned as
    the product cleans it, and whether it passes the product's checks: `evaluate_grader --model-feedback`
    (issue 23) measures base, untailored and tailored students on the same answers with it. No time bound
    and no choice: every draft is written and returned."""
    if not items:
        return []
    _, prompts = _pools_and_prompts(items, bank=bank, vectors=models.embed([item.answer or " " for item in items]))
    generations = models.chat_batch(
        task="feedback", conversations=prompts, template=PROMPT, max_new_tokens=max_new_tokens, stop=["\n\n"]
    )
    drafts = [_clean(generation.text) for generation in generations]
    return [(draft, not _unusable(draft, item)) for draft, item in zip(drafts, items, strict=True)]


def feedback_write(
    items: list[FeedbackItem],
    *,
    bank: FeedbackBank,
    use_model: bool = True,
    max_new_tokens: int = 70,
    draft_seconds: float = DRAFT_SECONDS,
) -> list[tuple[str, dict[str, Any]]]:
    """Feedback text and its provenance for each item; the model writes for all items in one batch, for at
    most `draft_seconds` (the in-process engine writes them all)."""
    if not items:
        return []
    vectors = models.embed([item.answer or " " for item in items])
    pools, prompts = _pools_and_prompts(items, bank=bank, vectors=vectors)
    generations: list[Any] = [None] * len(items)
    model_note = ""
    if use_model:
        try:
            generations = models.chat_batch_within(
                task="feedback",
                conversations=prompts,
                seconds=draft_seconds,
                template=PROMPT,
                max_new_tokens=max_new_tokens,
                stop=["\n\n"],
            )
            if any(generation is None for generation in generations):
                model_note = f"The model server had not written this draft within {draft_seconds:g} s."
        except models.ModelServerError as error:
            # The model server is not up (yet: `make run` starts it beside the worker). The grades do not
            # wait for it: teachers' feedback on similar answers is chosen, and the provenance says why.
            model_note = error.message

    keeps_own_draft = any(generation is not None for generation in generations) and _version_keeps_own_draft()
    drafts = [_clean(generation.text) if generation is not None else None for generation in generations]
    chosen = feedback_choose(
        items, bank=bank, vectors=vectors, pools=pools, drafts=drafts, keeps_own_draft=keeps_own_draft
    )
    results: list[tuple[str, dict[str, Any]]] = []
    for (text, choice), generation in zip(chosen, generations, strict=True):
        provenance: dict[str, Any] = dict(generation.provenance) if generation is not None else {}
        if choice.get("feedback_choice"):
            provenance["feedback_choice"] = choice["feedback_choice"]
        if model_note and generation is None:
            provenance["feedback_model_unavailable"] = model_note[:300]
        results.append((text, {**provenance, "feedback_source": choice["feedback_source"]}))
    return results


def feedback_choose(
    items: list[FeedbackItem],
    *,
    bank: FeedbackBank,
    drafts: list[str | None],
    keeps_own_draft: bool,
    vectors: np.ndarray | None = None,
    pools: list[list[int]] | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """The product's choice for each item between the model's cleaned draft (None: no draft) and the teachers'
    texts on similar answers: a draft that fails the checks is never chosen; a version promoted from a
    distillation run (`keeps_own_draft`) keeps every draft that passes; any other keeps it only when it agrees
    with the candidates at least as well as the best retrieved text. Returns the text and its source
    (`generated`, `retrieved`, `fallback`, or either of the last two `_after_check`). The distillation run's
    evaluation applies the same rule to a candidate's drafts, so its product figures are the product's."""
    if vectors is None:
        vectors = models.embed([item.answer or " " for item in items])
    if pools is None:
        pools, _ = _pools_and_prompts(items, bank=bank, vectors=vectors)
    results: list[tuple[str, dict[str, str]]] = []
    # A teacher's text written for one answer is given to one answer of the batch only (unless they are
    # the same answer): three different answers never read the same retrieved sentence.
    given: dict[str, str] = {}
    for item, vector, pool, written in zip(items, vectors, pools, drafts, strict=True):
        choice: dict[str, str] = {}
        text, source, best = FALLBACK[item.label], "fallback", -1.0
        weights = _weights(bank, vector, pool) if pool else np.zeros(0)
        if pool:
            for position, index in enumerate(pool):
                others = [j for j in range(len(pool)) if j != position]
                agreements = np.array([bank.agreement(index, pool[j]) for j in others])
                score = _consensus(agreements, weights[others]) if others else 0.0
                taken = given.get(bank.feedback[index])
                if taken is not None and taken != item.answer.strip():
                    continue
                if score > best:
                    text, source, best = bank.feedback[index], "retrieved", score
        if written is not None:
            if _unusable(written, item):
                source = f"{source}_after_check"
            elif keeps_own_draft:
                # A distilled version an admin promoted for this task: its own text, once it passes the checks.
                text, source = written, "generated"
                choice["feedback_choice"] = "promoted_version_own_draft"
            elif pool:
                tokens = _rouge_tokens(written)
                agreements = np.array([rouge_l(bank.tokens(index), tokens) for index in pool])
                if _consensus(agreements, weights) >= best:
                    text, source = written, "generated"
            else:
                text, source = written, "generated"
        if source == "retrieved":
            given[text] = item.answer.strip()
        results.append((text, {**choice, "feedback_source": source}))
    return results
