"""A new question with a few teacher-graded answers (grading.grader_model.few): the unseen-question model's
verdict is the prior, the graded answers' evidence corrects it."""

from __future__ import annotations

import numpy as np

from grading.grader_model.calibration import _logsumexp
from grading.grader_model.config import GraderConfig
from grading.grader_model.few import FEW_EVIDENCE, _FewCombiner, few_evidence, few_train
from grading.grader_model.neighbours import _Bank


def _clustered_bank(questions: int, per_question: int, seed: int) -> tuple[_Bank, dict[str, np.ndarray]]:
    """Answers whose label is where their embedding lies (three directions), per question."""
    rng = np.random.RandomState(seed)
    directions = np.eye(3, 16)
    vectors, labels, keys = [], [], []
    for q in range(questions):
        for _ in range(per_question):
            label = rng.randint(3)
            v = directions[label] + 0.25 * rng.randn(16)
            vectors.append(v / np.linalg.norm(v))
            labels.append(label)
            keys.append(f"q{q}")
    bank = _Bank(
        vectors=np.asarray(vectors, dtype=np.float32),
        labels=np.asarray(labels),
        scores=np.asarray(labels, dtype=np.float64) * 0.0 + 0.5,
        keys=np.asarray(keys),
    )
    return bank, bank.groups()


def test_a_combiner_that_weighs_only_the_prior_returns_the_prior() -> None:
    weights = np.zeros(2 * len(FEW_EVIDENCE) + 3)
    weights[0] = 1.0
    prior = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    votes = np.random.RandomState(0).rand(2, 22)
    log_p = _FewCombiner(weights).log_proba(few_evidence(prior, votes, 10))
    np.testing.assert_allclose(log_p, prior - _logsumexp(prior))


def test_trained_on_informative_neighbours_the_combiner_follows_them_over_an_uninformed_prior() -> None:
    bank, groups = _clustered_bank(questions=6, per_question=40, seed=1)
    uninformed = np.log(np.full((len(bank.labels), 3), 1 / 3))
    config = GraderConfig(few_pool_sizes=(5, 10), few_draws=1, calibration_folds=3)
    combiner = few_train(uninformed, bank.labels, bank, groups, config, seed=0)
    assert combiner is not None
    assert combiner.weights[FEW_EVIDENCE.index("vote_minilm")] > 0
    # A new question: ten graded answers, the rest graded with them.
    new, new_groups = _clustered_bank(questions=1, per_question=60, seed=7)
    pool, rest = new_groups["q0"][:10], new_groups["q0"][10:]
    from grading.grader_model.neighbours import _neighbour_features

    votes = _neighbour_features(new.vectors[rest], None, pool, new, config)
    log_p = combiner.log_proba(few_evidence(uninformed[: len(rest)], votes, len(pool)))
    assert (log_p.argmax(1) == new.labels[rest]).mean() >= 0.8
    # Stored as plain numbers and read back the same.
    again = _FewCombiner.from_json(combiner.to_json())
    np.testing.assert_array_equal(again.weights, combiner.weights)


def test_with_uninformative_neighbours_the_combiner_keeps_an_informed_prior() -> None:
    bank, groups = _clustered_bank(questions=6, per_question=40, seed=2)
    rng = np.random.RandomState(3)
    bank.vectors = rng.randn(*bank.vectors.shape).astype(np.float32)  # the embeddings say nothing
    bank.vectors /= np.linalg.norm(bank.vectors, axis=1, keepdims=True)
    informed = np.log(np.where(np.eye(3)[bank.labels] > 0, 0.8, 0.1))
    config = GraderConfig(few_pool_sizes=(5, 10), few_draws=1, calibration_folds=3)
    combiner = few_train(informed, bank.labels, bank, groups, config, seed=0)
    assert combiner is not None
    votes = _neighbour_features_for(bank, groups["q0"], config)
    rest = groups["q0"][10:]
    log_p = combiner.log_proba(few_evidence(informed[rest], votes, 10))
    assert (log_p.argmax(1) == bank.labels[rest]).mean() >= 0.9


def _neighbour_features_for(bank: _Bank, group: np.ndarray, config: GraderConfig) -> np.ndarray:
    from grading.grader_model.neighbours import _neighbour_features

    return _neighbour_features(bank.vectors[group[10:]], None, group[:10], bank, config)
