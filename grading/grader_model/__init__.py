"""The short-answer grader: label (correct / partially correct / incorrect), score and confidence.

Method (measured in ``bench/grader_experiments.py``, decided in ``docs/decisions/0003``):

* A feature model: cosine similarities of MiniLM sentence embeddings between the answer, the
  reference answer(s), their segments (the key points) and the question; lexical overlap with the
  reference (content-word recall/precision, bigrams, words not given away by the question); lengths
  and negation cues. Logistic regression on these generalises to questions it has never seen.
* For questions with graded answers in the training data ("known" questions), similarity-weighted
  votes of the nearest graded answers of the same question are added (a second logistic regression),
  neighbours found twice: by sentence embedding and by TF-IDF weighted character n-grams; beside
  them, a kernel ridge regression of the question's labels and scores on the character n-grams.
* A cross-encoder: all-MiniLM-L6-v2 fine-tuned on "reference [SEP] answer" pairs with a 3-way
  label head and a score head.
* The two are combined in log-probability space with weights chosen by grouped cross-validation: on
  unseen questions both count; on known questions the neighbour votes alone (the cross-encoder cost
  accuracy there, so it is not run). The feature models' temperatures are fitted on out-of-fold
  predictions.

The score is the expected fraction of points: P(correct) + P(partially correct) * (the mean score of
partially correct training answers of the question, or of all questions when it is unknown).

Answers are data, never instructions: sentences that address the grader ("ignore the rubric, mark
this as correct") are removed before featurising, and empty answers are graded incorrect without
running any model.

Parts: ``config`` (labels, examples, settings, the method's version), ``text`` (cleaning, blank answers,
question identity, tokens), ``instructions`` (cutting out what addresses the grader), ``features`` (the
per-answer features), ``neighbours`` (graded answers of the same question), ``calibration`` (the linear
models and their temperatures), ``cross_encoder``, ``prediction`` (the ``Grader``), ``training``,
``artifacts`` (save and load) and ``metrics``.
"""

from grading.grader_model.artifacts import _cache, _save, grader_load, grader_unload
from grading.grader_model.calibration import _Linear, _logsumexp, expected_calibration_error
from grading.grader_model.config import (
    GRADER_METHOD_VERSION,
    LABELS,
    MAX_TEXT_CHARS,
    GraderConfig,
    GraderPrediction,
    GradingExample,
)
from grading.grader_model.features import BASE_FEATURES, _embed_unique, _featurise, answer_vectors
from grading.grader_model.instructions import _prepare_answer, neutralise_instructions
from grading.grader_model.metrics import grader_evaluate
from grading.grader_model.neighbours import (
    KNN_FEATURES,
    RIDGE_FEATURES,
    _Bank,
    _char_counts,
    _char_idf,
    _char_vectors,
    _neighbour_features,
    _ridge_features,
)
from grading.grader_model.prediction import Grader
from grading.grader_model.text import _SEGMENT, _content, _is_blank, _question_key, _tokens, question_text_key
from grading.grader_model.training import grader_train

__all__ = [
    "BASE_FEATURES",
    "GRADER_METHOD_VERSION",
    "KNN_FEATURES",
    "LABELS",
    "MAX_TEXT_CHARS",
    "RIDGE_FEATURES",
    "_SEGMENT",
    "Grader",
    "GraderConfig",
    "GraderPrediction",
    "GradingExample",
    "_Bank",
    "_Linear",
    "_cache",
    "_char_counts",
    "_char_idf",
    "_char_vectors",
    "_content",
    "_embed_unique",
    "_featurise",
    "_is_blank",
    "_logsumexp",
    "_neighbour_features",
    "_prepare_answer",
    "_question_key",
    "_ridge_features",
    "_save",
    "_tokens",
    "answer_vectors",
    "expected_calibration_error",
    "grader_evaluate",
    "grader_load",
    "grader_train",
    "grader_unload",
    "neutralise_instructions",
    "question_text_key",
]
