"""Training a grader on labelled answers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from grading.grader_model import cross_encoder
from grading.grader_model.artifacts import _save
from grading.grader_model.calibration import (
    _fit_linear,
    _fit_temperature,
    _logsumexp,
    _oof_log_proba,
    _oof_temperature,
)
from grading.grader_model.config import LABELS, GraderConfig, GradingExample
from grading.grader_model.features import _featurise, _peer_prior, _peer_z
from grading.grader_model.few import few_train
from grading.grader_model.instructions import _prepare_answer
from grading.grader_model.neighbours import (
    KNN_FEATURES,
    RIDGE_FEATURES,
    _Bank,
    _char_counts,
    _char_idf,
    _char_vectors,
    _neighbour_features,
    _views,
)
from grading.grader_model.prediction import _Parts
from grading.grader_model.text import _is_blank


def grader_train(
    examples: list[GradingExample],
    *,
    output_dir: Path,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    config: GraderConfig | None = None,
) -> dict:
    """Train on every labelled example and write the artifacts into `output_dir`; returns training info."""
    config = config or GraderConfig()
    started = time.monotonic()
    output_dir = Path(output_dir)
    labelled = [e for e in examples if e.label is not None]
    bad = sorted({e.label for e in labelled if e.label not in LABELS}, key=str)
    if bad:
        raise ValueError(f"unknown labels {bad}; expected {list(LABELS)}")
    answers_all = [_prepare_answer(e.answer) for e in labelled]
    # Blank answers are graded by rule, so the models never see them.
    keep = [i for i, a in enumerate(answers_all) if not _is_blank(a)]
    train = [labelled[i] for i in keep]
    answers = [answers_all[i] for i in keep]
    if len(train) < 4:
        raise ValueError(f"need at least 4 labelled, non-empty answers to train; got {len(train)}")
    y = np.array([LABELS.index(e.label) for e in train])
    # A missing score follows from the label (partially correct: half the points).
    s = np.array([e.score if e.score is not None else (1.0, 0.5, 0.0)[c] for e, c in zip(train, y, strict=True)])
    s = np.clip(s.astype(np.float64), 0.0, 1.0)

    encoder_steps = config.epochs * math.ceil(len(train) / config.batch_size) if config.use_cross_encoder else 0
    total_steps = encoder_steps + 2
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, total_steps), total_steps)

    batch = _featurise(train, answers)
    tick()
    keys = np.array(batch.keys)
    counts = _char_counts(answers)
    char_idf = _char_idf(counts)
    bank = _Bank(
        vectors=batch.answer_vectors.astype(np.float32),
        labels=y,
        scores=s,
        keys=keys,
        chars=_char_vectors(answers, char_idf, counts),
        char_idf=char_idf,
    )
    groups = bank.groups()

    # Unknown-question model; its temperature from question-grouped out-of-fold predictions.
    peer_norm = _peer_prior(batch.base, batch.keys) if config.unknown_peer_norm else None
    x_unknown = batch.base
    if peer_norm is not None:
        x_unknown = np.hstack([batch.base, _peer_z(batch.base, batch.keys, peer_norm, config.peer_prior)])
    unknown = _fit_linear(x_unknown, y, config.feature_c_unknown, seed)
    question_groups = keys if len(groups) >= 3 else None
    oof, covered = _oof_log_proba(x_unknown, y, question_groups, config.feature_c_unknown, config, seed)
    unknown.temperature = _fit_temperature(oof[covered], y[covered]) if covered.any() else 1.0
    # The unseen-question model's verdict on each training answer as on a new question (out of fold).
    prior = unknown.log_proba(x_unknown)
    scaled = oof / unknown.temperature
    prior[covered] = (scaled - _logsumexp(scaled))[covered]

    # Known-question model: neighbour votes computed leave-one-out, as they will be for new answers.
    known = None
    rows_known = np.concatenate([g for g in groups.values() if len(g) > config.min_known_answers] or [np.zeros(0, int)])
    if len(rows_known) >= 10 and len(np.unique(y[rows_known])) >= 2:
        ridge = bank.chars is not None
        knn = np.zeros((len(train), len(KNN_FEATURES) * _views(bank) + (len(RIDGE_FEATURES) if ridge else 0)))
        for group in groups.values():
            if len(group) > config.min_known_answers:
                knn[group] = _neighbour_features(
                    bank.vectors[group],
                    bank.chars[group],
                    group,
                    bank,
                    config,
                    exclude=np.arange(len(group)),
                    ridge=ridge,
                )
        x_known = np.hstack([batch.base, knn])[rows_known]
        known = _fit_linear(x_known, y[rows_known], config.feature_c_known, seed)
        known.temperature = _oof_temperature(x_known, y[rows_known], None, config.feature_c_known, config, seed)
    few = few_train(prior, y, bank, groups, config, seed) if config.few_pool_sizes else None

    partial = s[y == 1]
    partial_score = float(partial.mean()) if len(partial) else 0.5
    partial_by_key = {k: float(s[g][y[g] == 1].mean()) for k, g in groups.items() if int((y[g] == 1).sum()) >= 3}

    encoder = tokenizer = None
    info: dict[str, Any] = {}
    if config.use_cross_encoder:
        encoder, tokenizer, info = cross_encoder._train_encoder(batch.references, answers, y, s, config, seed, tick)

    info.update(
        {
            "n_examples": len(examples),
            "n_trained": len(train),
            "n_blank_skipped": len(labelled) - len(train),
            "n_questions": len(groups),
            "label_counts": {label: int((y == c).sum()) for c, label in enumerate(LABELS)},
            "temperature_unknown": unknown.temperature,
            "temperature_known": known.temperature if known else None,
            "seed": seed,
            "train_seconds": round(time.monotonic() - started, 1),
        }
    )
    parts = _Parts(
        config=config,
        unknown=unknown,
        known=known,
        bank=bank,
        partial_score=partial_score,
        partial_score_by_key=partial_by_key,
        info=info,
        peer_norm=peer_norm,
        few=few,
    )
    _save(output_dir, parts, encoder, tokenizer)
    tick()
    return info
