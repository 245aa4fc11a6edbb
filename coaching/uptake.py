"""Conversational uptake: how much a teacher's reply builds on what the student just said (0, 1, 2).

Trained on the NCTE uptake exchanges (Demszky et al., ACL 2021, MIT): student utterance -> teacher reply
pairs from elementary math classrooms, each rated by three people. The model is a ridge regression on
features of the pair:

* the pair read together by all-MiniLM-L6-v2 (its files through models_runtime): the student turn and the
  teacher's reply go in as one two-segment input, so the reply's tokens attend to the student's; the vector is
  the mean of the reply's token states after the encoder's second layer (frozen, nothing fine-tuned);
* the cosines of the student turn's sentence embedding with the reply's and with the reply's first sentence's;
* word overlap: the share of the student's content words, bigrams and longest verbatim run the reply repeats,
  and how early in the reply the repetition comes;
* the reply's form: question marks, a question that asks for reasoning, bare evaluations ("Okay.", "Good."),
  revoicing phrases ("so you're saying"), lengths.

It predicts the human z-score (the figure `evaluate_coaching` correlates) and maps it to 0/1/2 with the two
thresholds that best reproduce the majority labels of the training exchanges. The fitted weights are a
small `.npz` file shipped in `coaching/uptake_model/`; `train_uptake` refits it from any file in the NCTE
layout, keeping observations (never single exchanges) aside for the held-out figures.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ApplicationError
from models_runtime import api as models

__all__ = [
    "UPTAKE_MODEL_DIR",
    "UptakeExchange",
    "UptakeModel",
    "uptake_evaluate",
    "uptake_exchanges_read",
    "uptake_model_load",
    "uptake_train",
]

UPTAKE_MODEL_DIR = Path(__file__).resolve().parent / "uptake_model"
# 2: the pair's second-layer reply vector replaced the separate sentence embeddings (version 1).
FEATURE_VERSION = 2
EMBEDDING_COLUMNS = 384
PAIR_LAYERS = 2
PAIR_MAX_TOKENS = 128
PAIR_BATCH = 32
HAND_WEIGHT = 0.5
_STOPWORDS_TEXT = (
    "a an the and or but so to of in on at is are was were be been it its it's this that these those "
    "i you we he she they me my your our us um uh yeah okay ok oh like just do does did what how why "
    "there here then if with for not no yes all right well can could would will have has had "
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
WORD = re.compile(r"[a-z0-9']+")
SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
REASONING_QUESTION = re.compile(
    r"\b(why|how do you know|how did you|explain|what makes you|tell me more|how come|what do you mean|convince)\b"
)
QUESTION_START = re.compile(
    r"^\s*(what|why|how|where|when|which|who|can|could|would|do|does|did|is|are|was|were|will|should|have|has)\b"
)
BARE_EVALUATION = re.compile(
    r"^\s*(yes|yeah|yep|okay|ok|good|great|right|no|nope|alright|all right|correct|exactly|thank you|thanks|"
    r"very good|good job|mm-hmm|uh-huh)[\s.!,]*$"
)
REVOICE = re.compile(r"\b(so you|you said|you're saying|you are saying|you think|you mean|in other words)\b")
_lock = threading.Lock()


@dataclass(frozen=True)
class UptakeExchange:
    obs_id: str
    exchange_idx: int
    student_text: str
    teacher_text: str
    uptake_zscore: float | None = None
    uptake_majority: int | None = None


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def first_sentence(text: str) -> str:
    parts = [part for part in SENTENCE_END.split(text.strip()) if part]
    return parts[0] if parts else text


def pair_features(student: str, teacher: str) -> list[float]:
    """The hand-made features of one (student turn, teacher reply) pair."""
    student_words, teacher_words = _words(student), _words(teacher)
    student_content, teacher_content = set(student_words) - STOPWORDS, set(teacher_words) - STOPWORDS
    student_set, teacher_set = set(student_words), set(teacher_words)
    student_bigrams = set(itertools.pairwise(student_words))
    teacher_bigrams = set(itertools.pairwise(teacher_words))
    lower_student, lower_teacher = student.lower(), teacher.lower()
    run = SequenceMatcher(None, lower_student, lower_teacher, autojunk=False).find_longest_match(
        0, len(lower_student), 0, len(lower_teacher)
    )
    opening = teacher_words[:8]
    shared = student_content & teacher_content
    return [
        len(shared) / max(1, len(student_content)),
        len(shared) / max(1, len(teacher_content)),
        len(student_set & teacher_set) / max(1, len(student_set | teacher_set)),
        len(student_bigrams & teacher_bigrams) / max(1, len(student_bigrams)),
        float(np.log1p(len(student_words))),
        float(np.log1p(len(teacher_words))),
        float(teacher.count("?")),
        float("?" in teacher),
        float(bool(QUESTION_START.match(lower_teacher))),
        float(bool(REASONING_QUESTION.search(lower_teacher))),
        float(len(teacher_words) <= 2),
        float(bool(BARE_EVALUATION.match(lower_teacher))),
        float(len(shared)),
        float(bool(REVOICE.search(lower_teacher))),
        run.size / max(1, len(lower_student)),
        float(np.log1p(run.size)),
        sum(1 for word in opening if word in student_set) / max(1, len(opening)),
        float(teacher_words[:1] == ["so"]),
        float(bool(teacher_words[-1:]) and teacher_words[-1:] == student_words[-1:]),
    ]


@lru_cache(maxsize=1)
def _pair_encoder() -> tuple[Any, Any]:
    """The first PAIR_LAYERS layers of all-MiniLM-L6-v2 and its tokenizer, from the bundled files (no download)."""
    from transformers import AutoModel, AutoTokenizer

    with _lock:
        path = models.embedding_model_path()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as error:
            raise ApplicationError(f"The uptake encoder could not be loaded from {path}: {error}.") from error
        encoder.encoder.layer = encoder.encoder.layer[:PAIR_LAYERS]
        return tokenizer, encoder.eval()


def pair_vectors(students: Sequence[str], teachers: Sequence[str]) -> np.ndarray:
    """Each pair read as one input (student turn, teacher reply): the unit-length mean of the reply's token
    states after the encoder's second layer. Shape (len(pairs), 384)."""
    import torch

    tokenizer, encoder = _pair_encoder()
    vectors = np.zeros((len(students), EMBEDDING_COLUMNS), dtype=np.float32)
    # Batches of similar lengths pad little; padding does not change a pair's vector (the attention mask).
    order = sorted(range(len(students)), key=lambda i: len(students[i]) + len(teachers[i]))
    with torch.inference_mode():
        for start in range(0, len(order), PAIR_BATCH):
            batch = order[start : start + PAIR_BATCH]
            encoded = tokenizer(
                [students[i] for i in batch],
                [teachers[i] for i in batch],
                truncation="longest_first",
                max_length=PAIR_MAX_TOKENS,
                padding=True,
                return_tensors="pt",
            )
            states = encoder(**encoded).last_hidden_state
            reply = (encoded["attention_mask"] * encoded["token_type_ids"]).unsqueeze(-1).float()
            mean = (states * reply).sum(1) / reply.sum(1).clamp(min=1.0)
            vectors[batch] = mean.numpy()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def features(students: Sequence[str], teachers: Sequence[str]) -> np.ndarray:
    """The feature matrix of pairs: the pair's reply vector, the cosines of the turns' sentence embeddings (one
    batch through models_runtime) and the hand-made features."""
    if not students:
        return np.zeros((0, 0), dtype=np.float32)
    firsts = [first_sentence(t) for t in teachers]
    vectors = models.embed([*students, *teachers, *firsts])
    count = len(students)
    s, t, f = vectors[:count], vectors[count : 2 * count], vectors[2 * count :]
    cosines = np.stack([(s * t).sum(1), (s * f).sum(1)], axis=1)
    hand = np.array([pair_features(a, b) for a, b in zip(students, teachers, strict=True)], dtype=np.float32)
    return np.hstack([pair_vectors(students, teachers), cosines, hand]).astype(np.float32)


@dataclass
class UptakeModel:
    """Ridge weights over standardised features; numpy only at prediction time."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    thresholds: tuple[float, float]
    meta: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "uptake"))

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) == 0:
            return np.zeros(0)
        return ((matrix - self.mean) / self.scale) @ self.coef + self.intercept

    def labels(self, scores: np.ndarray) -> np.ndarray:
        low, high = self.thresholds
        return np.where(scores < low, 0, np.where(scores < high, 1, 2))

    def predict(self, students: Sequence[str], teachers: Sequence[str]) -> list[tuple[float, int]]:
        """(score on the z-score scale, label 0/1/2) for each pair."""
        scores = self.scores(features(students, teachers))
        return [(float(score), int(label)) for score, label in zip(scores, self.labels(scores), strict=True)]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / "weights.npz",
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            coef=self.coef.astype(np.float32),
            intercept=np.array([self.intercept]),
            thresholds=np.array(self.thresholds),
        )
        (directory / "model.json").write_text(json.dumps(self.meta, indent=2) + "\n", encoding="utf-8")


def uptake_model_read(directory: Path) -> UptakeModel:
    try:
        weights = np.load(directory / "weights.npz")
        meta = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ApplicationError(f"The uptake model in {directory} cannot be read: {error}.") from error
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ApplicationError(
            f"The uptake model in {directory} was trained on other features (version {meta.get('feature_version')}); "
            "run `python manage.py train_uptake` again."
        )
    return UptakeModel(
        mean=weights["mean"],
        scale=weights["scale"],
        coef=weights["coef"],
        intercept=float(weights["intercept"][0]),
        thresholds=(float(weights["thresholds"][0]), float(weights["thresholds"][1])),
        meta=meta,
    )


@lru_cache(maxsize=1)
def uptake_model_load() -> UptakeModel:
    """The shipped uptake model (loaded once per process)."""
    with _lock:
        return uptake_model_read(UPTAKE_MODEL_DIR)


# --- Data, training and evaluation ---------------------------------------------------------------


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def uptake_exchanges_read(path: Path) -> list[UptakeExchange]:
    """Read a CSV in the NCTE uptake layout (obs_id, exchange_idx, student_text, teacher_text, uptake_zscore,
    uptake_majority). Raises ApplicationError naming a missing column."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"obs_id", "student_text", "teacher_text"} - set(reader.fieldnames or [])
            if missing:
                raise ApplicationError(
                    f"{path} is not in the NCTE uptake layout: no {', '.join(sorted(missing))} column."
                )
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as error:
        raise ApplicationError(f"{path} cannot be read: {error}.") from error
    exchanges = []
    for row in rows:
        majority = _number(row.get("uptake_majority"))
        exchanges.append(
            UptakeExchange(
                obs_id=str(row["obs_id"]),
                exchange_idx=int(_number(row.get("exchange_idx")) or 0),
                student_text=row["student_text"] or "",
                teacher_text=row["teacher_text"] or "",
                uptake_zscore=_number(row.get("uptake_zscore")),
                uptake_majority=int(majority) if majority is not None else None,
            )
        )
    return exchanges


def observation_split(exchanges: list[UptakeExchange], *, heldout_share: float, seed: int) -> tuple[set[str], set[str]]:
    """Observations for training and for the held-out figures: whole lessons, never single exchanges."""
    observations = sorted({e.obs_id for e in exchanges})
    order = np.random.default_rng(seed).permutation(len(observations))
    cut = round(len(observations) * heldout_share)
    heldout = {observations[i] for i in order[:cut]}
    return set(observations) - heldout, heldout


def _thresholds(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    candidates = np.quantile(scores, np.linspace(0.02, 0.98, 49))
    best, best_accuracy = (float(candidates[5]), float(candidates[25])), -1.0
    for i, low in enumerate(candidates):
        for high in candidates[i:]:
            predicted = np.where(scores < low, 0, np.where(scores < high, 1, 2))
            accuracy = float((predicted == labels).mean())
            if accuracy > best_accuracy:
                best, best_accuracy = (float(low), float(high)), accuracy
    return best


def fit(
    matrix: np.ndarray, targets: np.ndarray, majority: np.ndarray, *, alpha: float, meta: dict[str, Any]
) -> UptakeModel:
    from sklearn.linear_model import Ridge

    # Embedding columns stay as they are (a unit vector: comparable scales already); the hand-made columns are
    # standardised and down-weighted so that 21 of them do not drown the 384 vector columns (grouped
    # cross-validation with the version-1 features: 0.59 this way, 0.55 standardising everything).
    mean = np.zeros(matrix.shape[1])
    scale = np.ones(matrix.shape[1])
    hand = slice(EMBEDDING_COLUMNS, None)
    mean[hand] = matrix[:, hand].mean(0)
    scale[hand] = (matrix[:, hand].std(0) + 1e-6) / HAND_WEIGHT
    regression = Ridge(alpha=alpha).fit((matrix - mean) / scale, targets)
    model = UptakeModel(mean, scale, regression.coef_, float(regression.intercept_), (0.0, 0.0), meta)
    known = majority >= 0
    if known.any():
        model.thresholds = _thresholds(model.scores(matrix[known]), majority[known])
    return model


def uptake_evaluate(
    model: UptakeModel, exchanges: list[UptakeExchange], matrix: np.ndarray | None = None
) -> dict[str, Any]:
    """Spearman against the human z-score, accuracy against the majority label, and the word-overlap figure."""
    from scipy.stats import spearmanr

    if matrix is None:
        matrix = features([e.student_text for e in exchanges], [e.teacher_text for e in exchanges])
    scores = model.scores(matrix)
    rated = [i for i, e in enumerate(exchanges) if e.uptake_zscore is not None]
    labelled = [i for i, e in enumerate(exchanges) if e.uptake_majority is not None]
    result: dict[str, Any] = {"n": len(exchanges), "n_rated": len(rated), "n_labelled": len(labelled)}
    if len(rated) >= 3:
        gold = np.array([exchanges[i].uptake_zscore for i in rated])
        result["uptake_spearman"] = round(float(spearmanr(scores[rated], gold).statistic), 4)
        overlap = np.array([pair_features(exchanges[i].student_text, exchanges[i].teacher_text)[0] for i in rated])
        result["word_overlap_spearman"] = round(float(spearmanr(overlap, gold).statistic), 4)
    if labelled:
        gold_labels = np.array([exchanges[i].uptake_majority for i in labelled])
        predicted = model.labels(scores[labelled])
        result["uptake_accuracy"] = round(float((predicted == gold_labels).mean()), 4)
        result["majority_class_accuracy"] = round(float((gold_labels == np.bincount(gold_labels).argmax()).mean()), 4)
    result["model_version"] = model.version
    return result


def uptake_train(
    exchanges: list[UptakeExchange],
    *,
    version: str,
    heldout_share: float = 0.2,
    seed: int = 13,
    alpha: float | None = None,
    refit: bool = True,
) -> tuple[UptakeModel, dict[str, Any]]:
    """Fit on the training observations, measure on the held-out ones, then (refit) fit again on all.

    The ridge penalty is chosen by 5-fold cross-validation grouped by observation on the training part.
    Returns the model and its figures (held-out and cross-validated).
    """
    from scipy.stats import spearmanr
    from sklearn.model_selection import GroupKFold

    rated = [e for e in exchanges if e.uptake_zscore is not None]
    if len({e.obs_id for e in rated}) < 10:
        raise ApplicationError("Training the uptake model needs rated exchanges from at least 10 observations.")
    matrix = features([e.student_text for e in rated], [e.teacher_text for e in rated])
    targets = np.array([e.uptake_zscore for e in rated], dtype=np.float64)
    majority = np.array([e.uptake_majority if e.uptake_majority is not None else -1 for e in rated])
    groups = np.array([e.obs_id for e in rated])
    train_ids, heldout_ids = observation_split(rated, heldout_share=heldout_share, seed=seed)
    train = np.array([g in train_ids for g in groups])
    meta = {
        "version": version,
        "feature_version": FEATURE_VERSION,
        "embedding_model": models.EMBEDDING_MODEL_NAME,
        "pair_layers": PAIR_LAYERS,
    }
    alphas = [alpha] if alpha is not None else [3.0, 10.0, 30.0]
    cross_validated: dict[str, float] = {}
    for candidate in alphas:
        predicted = np.zeros(int(train.sum()))
        x, y, m, g = matrix[train], targets[train], majority[train], groups[train]
        for fold_train, fold_test in GroupKFold(5).split(x, y, g):
            predicted[fold_test] = fit(x[fold_train], y[fold_train], m[fold_train], alpha=candidate, meta=meta).scores(
                x[fold_test]
            )
        cross_validated[str(candidate)] = round(float(spearmanr(predicted, y).statistic), 4)
    best_alpha = float(max(cross_validated, key=lambda key: cross_validated[key]))
    model = fit(matrix[train], targets[train], majority[train], alpha=best_alpha, meta=meta)
    heldout_exchanges = [e for e in rated if e.obs_id in heldout_ids]
    figures = {
        "heldout": uptake_evaluate(model, heldout_exchanges, matrix[~train]) if heldout_ids else {},
        "heldout_observations": len(heldout_ids),
        "heldout_observation_ids": sorted(heldout_ids),
        "train_observations": len(train_ids),
        "alpha": best_alpha,
        "cross_validated_spearman": cross_validated,
        "seed": seed,
    }
    meta = {**meta, "alpha": best_alpha, "figures": figures, "refit_on_all": refit}
    model = fit(
        matrix if refit else matrix[train],
        targets if refit else targets[train],
        majority if refit else majority[train],
        alpha=best_alpha,
        meta=meta,
    )
    return model, figures
