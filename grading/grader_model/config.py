"""The grader's data types, labels, method version and training settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

LABELS = ("correct", "partially_correct", "incorrect")
# The grading method's version, recorded in each grade's provenance beside the trained version's name.
# 2 (issue 19): a teacher's reviewed answers are their question's neighbours at once; wider instruction
# stripping; rubric items judged per answer.
# 3: a new question's first teacher-graded answers correct the unseen-question model's verdict (a
# conditional logit over its log-probabilities and the graded answers' evidence) instead of replacing it.
GRADER_METHOD_VERSION = 3
# Long enough for any real short answer (the cross-encoder sees at most 256 tokens, ~1,200
# characters), short enough that a 50,000-character paste costs nothing to tokenise.
MAX_TEXT_CHARS = 4000
EMPTY_CONFIDENCE = 0.99


@dataclass
class GradingExample:
    question: str
    reference_answers: list[str]
    answer: str
    label: str | None = None
    score: float | None = None
    question_id: str = ""
    feedback: str = ""  # the teacher's written feedback, when the data has it (feedback examples, evaluation)


@dataclass
class GraderPrediction:
    label: str
    score: float
    confidence: float
    probabilities: dict[str, float]


@dataclass
class GraderConfig:
    """Training settings. The defaults are the measured method; ``fast()`` is for tests."""

    use_cross_encoder: bool = True
    epochs: int = 3
    learning_rate: float = 8e-5
    batch_size: int = 16
    max_length: int = 256
    weight_decay: float = 0.01
    score_loss_weight: float = 1.0
    # Known-question model: neighbours used for the vote, and how many graded answers a question
    # needs before the vote is trusted (below it the question is treated as unseen).
    knn_k: int = 10
    knn_temperature: float = 0.05
    min_known_answers: int = 5
    # Kernel ridge regression on the character view (labels and score), per known question: the strength
    # of its ridge penalty and the constant added to the kernel (an intercept, all but unpenalised).
    ridge_lambda: float = 3.0
    ridge_offset: float = 3.0
    feature_c_unknown: float = 0.003
    # The unseen-question model also reads each feature relative to the other answers to the same
    # question (z-scores over the question's answers in the batch and its `peers`), shrunk towards a
    # typical training question's spread by `peer_prior` pseudo-answers (issue 19: question-grouped
    # ablations on SAF's lectures, docs/decisions/0009).
    unknown_peer_norm: bool = True
    peer_prior: float = 5.0
    # A question with fewer than `few_max_pool` graded answers (a teacher's first grades of a new question)
    # is graded by a model of its own, trained on small pools drawn from the training questions (sizes
    # `few_pool_sizes`, `few_draws` draws each): it learns how far a handful of graded answers can be trusted.
    # Since method 3 that model is a conditional logit over the unseen-question model's verdict and the
    # pool's evidence (`grader_model.few`); its L2 penalty is the one of `few_penalties` with the least
    # question-grouped cross-validated log loss.
    few_max_pool: int = 30
    few_pool_sizes: tuple[int, ...] = (5, 10, 20)
    few_draws: int = 2
    few_penalties: tuple[float, ...] = (0.001, 0.01, 0.1)
    feature_c_known: float = 0.3
    # Log-linear ensemble: z = w_feature * log p_feature + w_encoder * encoder_logits. Chosen by
    # grouped cross-validation on SAF English (bench/grader_experiments.py, docs/decisions/0003): on
    # known questions the graded neighbours beat the cross-encoder, which only costs accuracy there
    # (and is then not run at all).
    weight_feature_unknown: float = 0.8
    weight_encoder_unknown: float = 0.3
    weight_feature_known: float = 1.0
    weight_encoder_known: float = 0.0
    calibration_folds: int = 5

    @classmethod
    def quick(cls) -> GraderConfig:
        """The first grader of a fresh install (about a minute): no cross-encoder, so a question nobody
        has graded leans on the features alone; on known questions the method is the measured one,
        whose cross-encoder weight there is 0 anyway."""
        return cls(use_cross_encoder=False, calibration_folds=3)

    @classmethod
    def fast(cls) -> GraderConfig:
        """A tiny cross-encoder run (seconds): exercises every code path, grades poorly."""
        return cls(epochs=1, max_length=64, batch_size=8, calibration_folds=3)
