"""The trained grader: feature, few-answer and known-question models combined with the cross-encoder."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model import cross_encoder, features
from grading.grader_model.calibration import _Linear, _logsumexp
from grading.grader_model.config import EMPTY_CONFIDENCE, LABELS, GraderConfig, GraderPrediction, GradingExample
from grading.grader_model.features import _Batch, _featurise, _peer_z
from grading.grader_model.few import _FewCombiner, few_evidence
from grading.grader_model.instructions import _prepare_answer
from grading.grader_model.neighbours import _Bank, _char_vectors, _neighbour_features, _ridge_weights
from grading.grader_model.text import QUESTION_KEY_SCHEME, _is_blank, _question_key, _question_text


@dataclass
class _Parts:
    config: GraderConfig
    unknown: _Linear
    known: _Linear | None
    bank: _Bank
    partial_score: float
    partial_score_by_key: dict[str, float]
    info: dict = field(default_factory=dict)
    key_scheme: int = QUESTION_KEY_SCHEME
    # Whether the known-question model reads the character view's ridge features (graders saved before
    # 2026-11-30 do not: `known_ridge` is missing from their grader.json).
    ridge: bool = True
    # Per-question z-scores for the unseen-question model: a typical training question's feature means
    # (row 0) and variances (row 1), the prior they are shrunk to; None for graders saved before.
    peer_norm: np.ndarray | None = None
    # The model for questions with a few graded answers (fewer than `few_max_pool`); None for graders saved
    # before 2026-12-02, which use the known-question model from `min_known_answers` on.
    # Method 3's is a `_FewCombiner`; method 2's (graders saved before 2026-12-02 07:00) a `_Linear`.
    few: _FewCombiner | _Linear | None = None

    @property
    def uses_ridge(self) -> bool:
        return self.ridge and self.known is not None and self.bank.chars is not None


@dataclass
class _Neighbours:
    """The graded answers a prediction reads: the bank, its rows per question key, the ridge weights per key
    (filled at first use) and the partially-correct score share per key."""

    bank: _Bank
    groups: dict[str, np.ndarray]
    ridge_weights: dict[str, np.ndarray]
    partial_score_by_key: dict[str, float]


class Grader:
    """A trained grader. Thread-safe for prediction; load it with `grader_load`."""

    def __init__(self, parts: _Parts, encoder: Any = None, tokenizer: Any = None) -> None:
        self.config = parts.config
        self.parts = parts
        self.encoder = encoder
        self.tokenizer = tokenizer
        self._groups = parts.bank.groups()
        self._ridge_weights: dict[str, np.ndarray] = {}  # per question key, computed at first use
        self._lock = threading.Lock()

    @property
    def info(self) -> dict:
        return dict(self.parts.info)

    def predict(
        self,
        examples: list[GradingExample],
        batch_size: int = 32,
        *,
        graded: Sequence[GradingExample] = (),
        peers: Sequence[GradingExample] = (),
    ) -> list[GraderPrediction]:
        """Grade examples in batches; their labels and scores, if any, are ignored.

        `graded` are answers a teacher has graded since the grader was trained (their labels, and scores
        when given): they join their question's graded neighbours for this call, at once and without a
        retraining, so a question with `min_known_answers` of them is graded as a known question.
        `peers`: other answers to the same questions (graded or not; labels unread): a question nobody has
        graded is judged against them as well as against its reference (per-question z-scores), so a
        small batch grades like the whole class's answers at once.
        """
        probabilities, scores = self._predict_arrays(examples, batch_size, graded=graded, peers=peers)
        return [
            GraderPrediction(
                label=LABELS[int(np.argmax(p))],
                score=float(s),
                confidence=float(p.max()),
                probabilities={label: float(v) for label, v in zip(LABELS, p, strict=True)},
            )
            for p, s in zip(probabilities, scores, strict=True)
        ]

    def _peer_batch(self, peers: Sequence[GradingExample], batch: list[GradingExample]) -> _Batch | None:
        """The featurised other answers to the batch's questions (not the batch's own), for the z-scores."""
        own = {(_question_text(e.question), e.answer.strip()) for e in batch}
        rows = [e for e in peers if (_question_text(e.question), e.answer.strip()) not in own]
        answers = [_prepare_answer(e.answer) for e in rows]
        keep = [i for i, a in enumerate(answers) if not _is_blank(a)]
        if not keep:
            return None
        return _featurise([rows[i] for i in keep], [answers[i] for i in keep], self.parts.key_scheme, cache=True)

    def _predict_arrays(
        self,
        examples: list[GradingExample],
        batch_size: int,
        *,
        graded: Sequence[GradingExample] = (),
        peers: Sequence[GradingExample] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(examples)
        probabilities = np.zeros((n, 3))
        scores = np.zeros(n)
        answers = [_prepare_answer(e.answer) for e in examples]
        blank = np.array([_is_blank(a) for a in answers], dtype=bool)
        rest = (1.0 - EMPTY_CONFIDENCE) / 2
        probabilities[blank] = [rest, rest, EMPTY_CONFIDENCE]
        todo = np.where(~blank)[0]
        if len(todo) == 0:
            return probabilities, scores
        batch = _featurise([examples[i] for i in todo], [answers[i] for i in todo], self.parts.key_scheme)
        neighbours = self._neighbours_with(graded)
        peer_batch = self._peer_batch(peers, [examples[i] for i in todo]) if self.parts.peer_norm is not None else None
        log_p = self._log_probabilities(batch, batch_size, neighbours, peer_batch)
        p = np.exp(log_p)
        probabilities[todo] = p
        partial_by_key = neighbours.partial_score_by_key
        partial = np.array([partial_by_key.get(k, self.parts.partial_score) for k in batch.keys])
        scores[todo] = np.clip(p[:, 0] + p[:, 1] * partial, 0.0, 1.0)
        return probabilities, scores

    def _log_probabilities(
        self, batch: _Batch, batch_size: int, neighbours: _Neighbours | None = None, peers: _Batch | None = None
    ) -> np.ndarray:
        feature_log_p, logits, known = self.components(batch, batch_size, neighbours=neighbours, peers=peers)
        return self.combine(feature_log_p, logits, known)

    def _unknown_inputs(self, batch: _Batch, peers: _Batch | None) -> np.ndarray:
        norm = self.parts.peer_norm
        if norm is None:
            return batch.base
        keys, base = list(batch.keys), batch.base
        if peers is not None and len(peers.keys):
            keys, base = keys + list(peers.keys), np.vstack([base, peers.base])
        z = _peer_z(base, keys, norm, self.config.peer_prior)[: len(batch.keys)]
        return np.hstack([batch.base, z])

    def _neighbours_with(self, graded: Sequence[GradingExample]) -> _Neighbours:
        """The graded neighbours: the training bank's, plus `graded` (a teacher's grades since training)."""
        parts = self.parts
        base = _Neighbours(parts.bank, self._groups, self._ridge_weights, parts.partial_score_by_key)
        rows = [e for e in graded if e.label in LABELS]
        answers = [_prepare_answer(e.answer) for e in rows]
        keep = [i for i, a in enumerate(answers) if not _is_blank(a)]
        if not keep:
            return base
        rows, answers = [rows[i] for i in keep], [answers[i] for i in keep]
        bank = parts.bank
        labels = np.array([LABELS.index(str(e.label)) for e in rows])
        scores = np.array(
            [float(e.score) if e.score is not None else (1.0, 0.5, 0.0)[c] for e, c in zip(rows, labels, strict=True)]
        )
        keys = np.array([_question_key(e, parts.key_scheme) for e in rows])
        chars = None
        if bank.chars is not None and bank.char_idf is not None:
            from scipy.sparse import vstack

            chars = vstack([bank.chars, _char_vectors(answers, bank.char_idf)]).tocsr()
        merged = _Bank(
            vectors=np.vstack([bank.vectors, features._embed(answers).astype(bank.vectors.dtype)]),
            labels=np.concatenate([bank.labels, labels]),
            scores=np.clip(np.concatenate([bank.scores, scores]), 0.0, 1.0),
            keys=np.concatenate([bank.keys.astype(str), keys]),
            chars=chars,
            char_idf=bank.char_idf,
        )
        groups = merged.groups()
        touched = set(keys.tolist())
        # Ridge weights of untouched questions stay valid (their pools' bank rows did not move).
        ridge = {k: v for k, v in self._ridge_weights.items() if k not in touched}
        partial = dict(parts.partial_score_by_key)
        for key in touched:
            group = groups[key]
            shares = merged.scores[group][merged.labels[group] == 1]
            if len(shares) >= 3:
                partial[key] = float(shares.mean())
        return _Neighbours(merged, groups, ridge, partial)

    def components(
        self,
        batch: _Batch,
        batch_size: int = 32,
        *,
        every_row: bool = False,
        neighbours: _Neighbours | None = None,
        peers: _Batch | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Feature-model log-probabilities, cross-encoder logits (None without one), known-question flags.

        The cross-encoder only reads the rows whose ensemble weight for it is not zero (the others get
        zero logits), unless `every_row` (for measuring the cross-encoder alone).
        """
        config = self.config
        if neighbours is None:
            neighbours = _Neighbours(
                self.parts.bank, self._groups, self._ridge_weights, self.parts.partial_score_by_key
            )
        n = len(batch.answers)
        known = np.zeros(n, dtype=bool)
        x_unknown = self._unknown_inputs(batch, peers)
        feature_log_p = self.parts.unknown.log_proba(x_unknown)
        few = self.parts.few
        if few is not None:
            few_keys: dict[str, list[int]] = {}
            for i, key in enumerate(batch.keys):
                pool = neighbours.groups.get(key)
                if pool is not None and config.min_known_answers <= len(pool) < config.few_max_pool:
                    few_keys.setdefault(key, []).append(i)
            for key, rows in few_keys.items():
                pool = neighbours.groups[key]
                bank = neighbours.bank
                row_chars = (
                    _char_vectors([batch.answers[i] for i in rows], bank.char_idf)
                    if bank.chars is not None and bank.char_idf is not None
                    else None
                )
                votes = _neighbour_features(
                    batch.answer_vectors[rows], row_chars, pool, bank, config, ridge=bank.chars is not None
                )
                if isinstance(few, _FewCombiner):
                    feature_log_p[rows] = few.log_proba(few_evidence(feature_log_p[rows], votes, len(pool)))
                else:
                    pool_size = np.full((len(rows), 1), math.log(len(pool)))
                    feature_log_p[rows] = few.log_proba(np.hstack([x_unknown[rows], votes, pool_size]))
                known[rows] = True
        if self.parts.known is not None:
            by_key: dict[str, list[int]] = {}
            for i, key in enumerate(batch.keys):
                pool = neighbours.groups.get(key)
                smallest = config.few_max_pool if few is not None else config.min_known_answers
                if pool is not None and len(pool) >= smallest:
                    by_key.setdefault(key, []).append(i)
            bank = neighbours.bank
            chars = _char_vectors(batch.answers, bank.char_idf) if bank.char_idf is not None and by_key else None
            ridge = self.parts.uses_ridge
            for key, rows in by_key.items():
                row_chars = chars[rows] if chars is not None else None
                pool = neighbours.groups[key]
                weights = None
                if ridge:
                    weights = neighbours.ridge_weights.get(key)
                    if weights is None:
                        weights = neighbours.ridge_weights[key] = _ridge_weights(pool, bank, config)
                votes = _neighbour_features(
                    batch.answer_vectors[rows], row_chars, pool, bank, config, ridge=ridge, ridge_weights=weights
                )
                feature_log_p[rows] = self.parts.known.log_proba(np.hstack([batch.base[rows], votes]))
                known[rows] = True
        if self.encoder is None:
            return feature_log_p, None, known
        weight = np.where(known, config.weight_encoder_known, config.weight_encoder_unknown)
        encoded = np.arange(n) if every_row else np.flatnonzero(weight != 0)
        logits = np.zeros((n, len(LABELS)))
        if len(encoded):
            with self._lock:  # one forward pass at a time; torch already uses every core
                logits[encoded] = cross_encoder._encoder_logits(
                    self.encoder,
                    self.tokenizer,
                    [batch.references[i] for i in encoded],
                    [batch.answers[i] for i in encoded],
                    config.max_length,
                    batch_size,
                )
        return feature_log_p, logits, known

    def combine(self, feature_log_p: np.ndarray, logits: np.ndarray | None, known: np.ndarray) -> np.ndarray:
        """The ensemble's log-probabilities from `components`."""
        if logits is None:
            return feature_log_p
        config = self.config
        w_feature = np.where(known, config.weight_feature_known, config.weight_feature_unknown)[:, None]
        w_encoder = np.where(known, config.weight_encoder_known, config.weight_encoder_unknown)[:, None]
        z = w_feature * feature_log_p + w_encoder * logits
        return z - _logsumexp(z)
