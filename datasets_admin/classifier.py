"""The comment classifier: SIGHT's ten categories, several per comment.

Each comment becomes its MiniLM sentence embedding (through models_runtime) joined with a few cues
people use when they label (a thank-you, a question mark, a time stamp, how much of it is English),
and one logistic regression per category decides whether the category applies. The parameters are
plain numbers kept as JSON in the database (no pickles), so a version can be read, compared and
shipped. Agreement with people is measured with Cohen's kappa against each annotator, as SIGHT does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, f1_score
from sklearn.model_selection import KFold

from datasets_admin.models import CATEGORIES
from datasets_admin.static_embedding import STATIC_EMBEDDING_NAME

FEATURES_VERSION = "cues-v2"
MINILM = "all-MiniLM-L6-v2"
# The comment vectors a version reads: MiniLM (slower, better agreement in cross-validation) or the static
# table distilled from it (datasets_admin.static_embedding: a look-up, for ingesting whole corpora).
EMBEDDINGS = (MINILM, STATIC_EMBEDDING_NAME)
# Kappa below this on held-out comments: the page shows the category's counts greyed, as not to be trusted.
TRUSTED_KAPPA = 0.6

_ENGLISH_WORDS = """
the a an and or but of to in on at for with is are was were be been it this that these those i you
he she we they me my your his her our their not no yes do does did so very what why how when where
which who can could would should will just thank thanks great lecture professor video explain
understand like love good best math class course teacher really much one from as have has had if
then there here about all more thats it's im don't dont i'm he's wow nice amazing awesome sir
"""
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("thanks", r"\b(thank|thanks|thx|thnx|thankyou|grateful|appreciate|bless)"),
        ("question", r"\?"),
        ("time", r"(?<![\d:])\d{1,2}:\d{2}(?![\d])"),
        (
            "confused",
            r"confus|(don'?t|do not|didn'?t|can'?t|cannot) (get|understand|see|follow)|lost me|makes? no sense|"
            r"not clear|unclear|struggl|stuck",
        ),
        ("why_how", r"^(why|how|what|can|could|is|does|shouldn'?t|isn'?t|where)\b|\bwhy\b|how come|can (some|any)one"),
        ("mistake", r"\b(mistake|error|wrong|typo|should be|shouldn'?t it be|isn'?t it|correct me)\b"),
        ("reply", r"^@|\b(he means|he meant|because|the reason|you need|it'?s because|answer is|refers to)\b"),
        (
            "setup",
            r"\b(board|chalk|camera|audio|sound|volume|mic|subtitles?|captions?|lighting|video quality|"
            r"handwriting|quality|resolution|sliding boards?|eraser|cameraman)\b",
        ),
        ("first_person", r"\b(i|i'm|im|i've|my|me|myself)\b"),
        (
            "experience",
            r"\b(exam|test|tomorrow|semester|college|university|school|years? ago|my (prof|teacher|class)|"
            r"took|taking|studying|engineer|student|job|career|high school|graduat)",
        ),
        (
            "pedagogy",
            r"\b(explain|explains|explained|explanation|teach|teaches|teaching|taught|intuiti|way he|"
            r"clear|clearly|example|examples|proof|approach|style|method)\b",
        ),
        (
            "praise",
            r"\b(great|amazing|awesome|best|excellent|brilliant|genius|legend|beautiful|wonderful|love|"
            r"fantastic|incredible|goat)\b",
        ),
        ("lecture_word", r"\b(lecture|lectures|professor|prof|strang|mit|course|video)\b"),
        ("laugh", r"\b(lol|lmao|haha+|xd)\b|😂|🤣"),
        ("bookmark", r"\b(lecture \d+|left off|resume|continue from|bookmark|note to self|day \d+)\b"),
    )
)


def comment_cues(text: str) -> np.ndarray:
    """The hand-made cues for one comment, each in 0..1."""
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())
    letters = [ch for ch in text if ch.isalpha()]
    non_latin = sum(1 for ch in letters if ord(ch) > 0x24F) / max(len(letters), 1)
    accented = sum(1 for ch in letters if 0x7F < ord(ch) <= 0x24F) / max(len(letters), 1)
    english = sum(1 for word in words if word in _ENGLISH) / max(len(words), 1)
    values = [
        non_latin,
        min(accented * 10, 1.0),
        english,
        1.0 if not words else 0.0,
        min(len(words) / 60, 1.0),
        1.0 if len(words) <= 4 else 0.0,
    ]
    values.extend(1.0 if pattern.search(text) else 0.0 for _, pattern in _CUES)
    return np.asarray(values, dtype=np.float32)


CUE_NAMES = ("non_latin", "accented", "english_words", "no_words", "length", "short", *(n for n, _ in _CUES))
# Relative weights of the unit-length embedding and the 0..1 cues (chosen by 5-fold cross-validation on the
# training part: embedding x2, cues x1, C=1 gave the best mean kappa there; the held-out part was not used).
EMBEDDING_WEIGHT = 2.0
CUE_WEIGHT = 1.0
# Inverse regularisation: 0.3 gave the best cross-validated kappa on the training part (0.589, against 0.575
# for 1.0 and 0.571 for 3.0; 5 folds, thresholds tuned inside each); the held-out part was not used.
C_VALUE = 0.3
THRESHOLDS = tuple(round(0.2 + 0.05 * step, 2) for step in range(13))  # 0.2 .. 0.8


def features(
    embeddings: np.ndarray,
    texts: Sequence[str],
    *,
    embedding_weight: float = EMBEDDING_WEIGHT,
    cue_weight: float = CUE_WEIGHT,
) -> np.ndarray:
    cues = np.vstack([comment_cues(text) for text in texts]) if texts else np.zeros((0, len(CUE_NAMES)))
    return np.hstack([embedding_weight * embeddings, cue_weight * cues]).astype(np.float32)


@dataclass
class TrainingExample:
    text: str
    embedding: np.ndarray
    # Per category, the labels people gave (one per annotator; a correction counts as one label).
    labels: dict[str, list[int]]


def _targets(examples: Sequence[TrainingExample], category: str) -> tuple[list[int], list[int]]:
    rows: list[int] = []
    targets: list[int] = []
    for index, example in enumerate(examples):
        for label in example.labels.get(category, []):
            rows.append(index)
            targets.append(label)
    return rows, targets


def _fit_one(matrix: np.ndarray, rows: list[int], targets: list[int], c_value: float) -> LogisticRegression:
    model = LogisticRegression(C=c_value, class_weight="balanced", max_iter=3000)
    model.fit(matrix[rows], np.asarray(targets))
    return model


def _threshold(matrix: np.ndarray, examples: Sequence[TrainingExample], category: str, c_value: float) -> float:
    """The decision threshold with the best kappa against people over 5-fold cross-validation of the training
    examples (the held-out comments are never seen here)."""
    if len(examples) < 20:
        return 0.5
    scores = np.full(len(examples), np.nan)
    for train, test in KFold(5, shuffle=True, random_state=0).split(np.arange(len(examples))):
        rows, targets = _targets([examples[i] for i in train], category)
        if len(set(targets)) < 2:
            continue
        model = _fit_one(matrix[train], rows, targets, c_value)
        scores[test] = model.predict_proba(matrix[test])[:, 1]
    best_kappa, best = -2.0, 0.5
    for threshold in THRESHOLDS:
        guesses: list[int] = []
        truths: list[int] = []
        for index, example in enumerate(examples):
            if np.isnan(scores[index]):
                continue
            for label in example.labels.get(category, []):
                guesses.append(int(scores[index] >= threshold))
                truths.append(label)
        if len(set(truths)) < 2:
            return 0.5
        kappa = _kappa(truths, guesses)
        if kappa > best_kappa + 1e-9:
            best_kappa, best = kappa, threshold
    return best


def classifier_fit(
    examples: Sequence[TrainingExample],
    *,
    c_value: float = C_VALUE,
    tune_thresholds: bool = True,
    embedding: str = MINILM,
) -> dict[str, Any]:
    """One logistic regression per category, each with its threshold tuned by cross-validation; JSON-able."""
    matrix = features(np.vstack([e.embedding for e in examples]), [e.text for e in examples])
    parameters: dict[str, Any] = {
        "features": FEATURES_VERSION,
        "embedding": embedding,
        "embedding_weight": EMBEDDING_WEIGHT,
        "cue_weight": CUE_WEIGHT,
        "c_value": c_value,
        "categories": {},
    }
    for category in CATEGORIES:
        rows, targets = _targets(examples, category)
        if not targets or len(set(targets)) < 2:
            # Nothing to learn from: a constant answer (no comment, or every comment).
            parameters["categories"][category] = {"constant": int(bool(targets and targets[0]))}
            continue
        model = _fit_one(matrix, rows, targets, c_value)
        threshold = _threshold(matrix, examples, category, c_value) if tune_thresholds else 0.5
        parameters["categories"][category] = {
            "coef": [round(float(v), 6) for v in model.coef_[0]],
            "intercept": round(float(model.intercept_[0]), 6),
            "threshold": threshold,
        }
    return parameters


def classifier_scores(parameters: dict[str, Any], embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Probability per comment (rows) and category (columns, in CATEGORIES' order)."""
    # The weights the version was trained with (cues-v1 versions predate the embedding weight).
    matrix = features(
        embeddings,
        texts,
        embedding_weight=float(parameters.get("embedding_weight", 1.0)),
        cue_weight=float(parameters.get("cue_weight", 3.0)),
    )
    scores = np.zeros((len(texts), len(CATEGORIES)), dtype=np.float32)
    for column, category in enumerate(CATEGORIES):
        model = parameters["categories"].get(category, {"constant": 0})
        if "constant" in model:
            scores[:, column] = float(model["constant"])
            continue
        logits = matrix @ np.asarray(model["coef"], dtype=np.float32) + float(model["intercept"])
        scores[:, column] = 1.0 / (1.0 + np.exp(-logits))
    return scores


def classifier_labels(parameters: dict[str, Any], scores: np.ndarray) -> list[list[str]]:
    thresholds = np.asarray(
        [parameters["categories"].get(c, {}).get("threshold", 0.5) for c in CATEGORIES], dtype=np.float32
    )
    return [[c for c, on in zip(CATEGORIES, row >= thresholds, strict=True) if on] for row in scores]


def agreement(predicted: Sequence[Sequence[str]], human: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
    """Per category Cohen's kappa against each annotator and F1 (against either's positive), and macro kappa.

    Categories with no positive example in the data are left out of the mean and listed.
    """
    per_category: dict[str, Any] = {}
    left_out: list[str] = []
    kappas: list[float] = []
    for category in CATEGORIES:
        pairs = [
            (int(category in labels), gold.get(category, []))
            for labels, gold in zip(predicted, human, strict=True)
            if gold.get(category)
        ]
        if not pairs or not any(any(g) for _, g in pairs):
            left_out.append(category)
            continue
        entry: dict[str, Any] = {"n": len(pairs), "positives": sum(1 for _, g in pairs if any(g))}
        annotator_kappas = []
        for annotator in (0, 1):
            kept = [(p, g[annotator]) for p, g in pairs if len(g) > annotator]
            if not kept:
                continue
            guess, truth = zip(*kept, strict=True)
            kappa = _kappa(list(truth), list(guess))
            entry[f"kappa_annotator_{annotator + 1}"] = round(kappa, 4)
            annotator_kappas.append(kappa)
        either = [int(any(g)) for _, g in pairs]  # F1 against "either person said so"
        entry["f1"] = round(float(f1_score(either, [p for p, _ in pairs], zero_division=0)), 4)
        entry["kappa"] = round(float(np.mean(annotator_kappas)), 4)
        kappas.append(float(np.mean(annotator_kappas)))
        per_category[category] = entry
    return {
        "categories": per_category,
        "macro_kappa": round(float(np.mean(kappas)), 4) if kappas else None,
        "left_out": left_out,
        "comments": len(human),
    }


def _kappa(truth: list[int], guess: list[int]) -> float:
    if len(set(truth) | set(guess)) < 2:
        return 1.0  # both say the same single thing for every comment: full agreement
    return float(cohen_kappa_score(truth, guess))
