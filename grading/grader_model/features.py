"""Per-answer features: MiniLM similarities to the reference, its key points and the question; lexical
overlap; lengths and negation; z-scores among the same question's answers."""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model.config import GradingExample
from grading.grader_model.instructions import _prepare_answer
from grading.grader_model.text import (
    _NEGATION,
    QUESTION_KEY_SCHEME,
    _clean,
    _content,
    _question_key,
    _segments,
    _tokens,
)


def _lexical_features(answer: str, reference: str, question: str) -> list[float]:
    answer_tokens, reference_tokens = _tokens(answer), _tokens(reference)
    ca, cr, cq = _content(answer_tokens), _content(reference_tokens), _content(_tokens(question))
    sa, sr, sq = set(ca), set(cr), set(cq)
    shared = len(sa & sr)
    recall, precision = shared / max(1, len(sr)), shared / max(1, len(sa))
    f1 = 2 * recall * precision / max(1e-9, recall + precision)
    # Reference words the question does not give away are the ones that show knowledge.
    informative = sr - sq
    recall_informative = len(sa & informative) / max(1, len(informative))
    ba, br = set(itertools.pairwise(ca)), set(itertools.pairwise(cr))
    bigram_recall, bigram_precision = len(ba & br) / max(1, len(br)), len(ba & br) / max(1, len(ba))
    new_words = len(sa - sq) / max(1, len(sa))
    la, lr = len(answer_tokens), len(reference_tokens)
    na, nr = len(_NEGATION.findall(answer)), len(_NEGATION.findall(reference))
    return [
        recall,
        precision,
        f1,
        recall_informative,
        bigram_recall,
        bigram_precision,
        new_words,
        math.log1p(la),
        math.log1p(la) - math.log1p(lr),
        math.log1p(lr),
        10.0 * na / max(1, la),
        float(na > 0) - float(nr > 0),
        len(sa & sq) / max(1, len(sq)),
    ]


BASE_FEATURES = (  # noqa: SIM905 - names read better as text
    "cos_ref_max cos_ref_mean cos_question cos_ref_minus_question cos_question_ref "
    "seg_mean seg_max seg_min seg_over_05 seg_over_06 "
    "recall precision f1 recall_informative bigram_recall bigram_precision new_words "
    "log_len log_len_ratio log_ref_len negation_rate negation_mismatch question_overlap"
).split()


def _embed(texts: list[str]) -> np.ndarray:
    from models_runtime.api import embed

    return embed(texts) if texts else np.zeros((0, 384), dtype=np.float32)


def answer_vectors(texts: Sequence[str]) -> np.ndarray:
    """Sentence embeddings of answers as the grader sees them (instructions to the grader cut out)."""
    return _embed([_prepare_answer(text) for text in texts])


# Question, reference and reference-segment texts recur in every batch of an assignment (the grading job
# works in small chunks): their vectors are kept, most recently used last, up to this many texts.
_TEXT_VECTORS: OrderedDict[str, np.ndarray] = OrderedDict()
_TEXT_VECTORS_MAX = 4096
_text_vectors_lock = threading.Lock()


def _embed_unique(texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """Embed each distinct text once, reusing the vectors of texts seen in earlier batches."""
    unique = list(dict.fromkeys(texts))
    position = {text: i for i, text in enumerate(unique)}
    with _text_vectors_lock:
        known = {text: _TEXT_VECTORS[text] for text in unique if text in _TEXT_VECTORS}
        for text in known:
            _TEXT_VECTORS.move_to_end(text)
    missing = [text for text in unique if text not in known]
    if missing:
        fresh = _embed(missing)
        with _text_vectors_lock:
            for text, vector in zip(missing, fresh, strict=True):
                known[text] = _TEXT_VECTORS[text] = vector
            while len(_TEXT_VECTORS) > _TEXT_VECTORS_MAX:
                _TEXT_VECTORS.popitem(last=False)
    vectors = np.stack([known[text] for text in unique]) if unique else _embed([])
    return vectors, [position[t] for t in texts]


@dataclass
class _Batch:
    """The featurised form of examples whose answers are not blank."""

    answers: list[str]
    references: list[list[str]]
    keys: list[str]
    answer_vectors: np.ndarray
    base: np.ndarray


def _featurise(
    examples: Sequence[GradingExample],
    answers: list[str],
    key_scheme: int = QUESTION_KEY_SCHEME,
    *,
    cache: bool = False,
) -> _Batch:
    """`cache`: keep the answers' vectors too (peers recur in every chunk of an assignment's grading)."""
    references = [[_clean(r) for r in e.reference_answers if _clean(r)] or [""] for e in examples]
    questions = [_clean(e.question) for e in examples]
    if cache:
        unique_vectors, unique_index = _embed_unique(answers)
        answer_vectors = unique_vectors[unique_index] if answers else _embed([])
    else:
        answer_vectors = _embed(answers)
    question_vectors, question_index = _embed_unique(questions)
    # Every reference text and reference segment is embedded once per batch, not once per answer.
    reference_texts = [r for refs in references for r in refs]
    segment_lists = {r: _segments(r) for r in dict.fromkeys(reference_texts)}
    segment_texts = [s for segs in segment_lists.values() for s in segs]
    vectors, index = _embed_unique(reference_texts + segment_texts)
    reference_vectors = {t: vectors[i] for t, i in zip(reference_texts, index[: len(reference_texts)], strict=True)}
    segment_vectors = {t: vectors[i] for t, i in zip(segment_texts, index[len(reference_texts) :], strict=True)}

    rows = []
    for i, refs in enumerate(references):
        a = answer_vectors[i]
        q = question_vectors[question_index[i]]
        r = np.stack([reference_vectors[t] for t in refs])
        segs = np.stack([segment_vectors[s] for t in refs for s in segment_lists[t]])
        cos_ref = r @ a
        cos_q = float(q @ a)
        cov = segs @ a
        row = [
            float(cos_ref.max()),
            float(cos_ref.mean()),
            cos_q,
            float(cos_ref.max()) - cos_q,
            float((r @ q).max()),
            float(cov.mean()),
            float(cov.max()),
            float(cov.min()),
            float((cov > 0.5).mean()),
            float((cov > 0.6).mean()),
        ]
        row += _lexical_features(answers[i], " ".join(refs), questions[i])
        rows.append(row)
    return _Batch(
        answers=answers,
        references=references,
        keys=[_question_key(e, key_scheme) for e in examples],
        answer_vectors=answer_vectors,
        base=np.asarray(rows, dtype=np.float64).reshape(len(answers), len(BASE_FEATURES)),
    )


def _peer_prior(base: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    """A typical question's feature means and variances over its answers (means over training questions)."""
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    means = np.array([base[rows].mean(0) for rows in by_key.values()])
    variances = np.array([base[rows].var(0) for rows in by_key.values()])
    return np.vstack([means.mean(0), variances.mean(0)])


def _peer_z(base: np.ndarray, keys: Sequence[str], prior: np.ndarray, strength: float) -> np.ndarray:
    """Each row's features as z-scores among the rows of the same question, the question's mean and
    variance shrunk towards `prior` by `strength` pseudo-rows (a lone answer is judged against a typical
    question)."""
    z = np.zeros_like(base)
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    for rows in by_key.values():
        x = base[rows]
        n = len(rows)
        mean = (n * x.mean(0) + strength * prior[0]) / (n + strength)
        variance = (n * x.var(0) + strength * prior[1]) / (n + strength)
        z[rows] = (x - mean) / np.sqrt(variance + 1e-6)
    return z
