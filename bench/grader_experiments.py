"""The grader's evaluation protocol on SAF: methods side by side, figures printed as JSON.

Two held-out settings, fixed seeds, all from the English training data:

* unseen answers (UA): 5 folds; every fold holds out ~20% of the answers of every question
  (stratified by label within each question), so each answer is held out exactly once;
* unseen questions (UQ): 6 folds grouped by question (3 whole questions held out per fold).

Methods: the majority class; the baseline (MiniLM embeddings of answer and reference, logistic
regression); the grader's feature model alone; its cross-encoder alone; and the ensemble, once with
the weights in `GraderConfig` and once with weights fitted on the other folds only (the honest
figure: the default weights were themselves chosen from these folds). Figures are means over folds.

    .venv/bin/python bench/grader_experiments.py --data /work/shared/data/saf/training/english

`--version var/models/graders/NAME` instead compares the baseline with a version that `train_grader --no-refit`
wrote, on that version's own held-out parts (the baseline trained on the same training examples).

The cross-encoder makes a full run long (~1-2 hours on 2 cores); `--cache DIR` keeps each fold's
outputs so a rerun only recomputes what changed; `--no-encoder` skips it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from grading.grader_model import (
    LABELS,
    GraderConfig,
    GradingExample,
    _featurise,
    _is_blank,
    _logsumexp,
    _prepare_answer,
    expected_calibration_error,
    grader_load,
    grader_train,
)
from grading.saf import saf_read

EMPTY = np.array([0.005, 0.005, 0.99])


def memoise_embeddings() -> None:
    """Embed each text once per run: folds share texts, and embedding them again only costs time."""
    from grading.grader_model import features

    original = features._embed
    cache: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, original(missing), strict=True))
        return np.stack([cache[t] for t in texts]) if texts else original([])

    features._embed = cached  # every embedding of the grader goes through features._embed


def unseen_answer_folds(examples: list[GradingExample], k: int, seed: int) -> list[np.ndarray]:
    """Per question, deal the answers of each label round-robin over k folds after a seeded shuffle."""
    rng = np.random.RandomState(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    by_question: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_question.setdefault(e.question_id, []).append(i)
    offset = 0
    for question in sorted(by_question):
        rows = by_question[question]
        for label in LABELS:
            members = [i for i in rows if examples[i].label == label]
            rng.shuffle(members)
            for j, i in enumerate(members):
                # The running offset spreads rare labels over folds instead of always fold 0.
                folds[(j + offset) % k].append(i)
            offset += len(members)
    return [np.sort(np.array(f)) for f in folds]


def unseen_question_folds(examples: list[GradingExample], k: int, seed: int) -> list[np.ndarray]:
    questions = sorted({e.question_id for e in examples})
    np.random.RandomState(seed).shuffle(questions)
    return [np.array([i for i, e in enumerate(examples) if e.question_id in set(questions[f::k])]) for f in range(k)]


def metrics(y: np.ndarray, probabilities: np.ndarray, score_true: np.ndarray, score_pred: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    guess = probabilities.argmax(1)
    return {
        "accuracy": float((guess == y).mean()),
        "macro_f1": float(f1_score(y, guess, average="macro")),
        "score_mse": float(np.mean((score_true - score_pred) ** 2)),
        "ece": expected_calibration_error(probabilities.max(1), (guess == y).astype(float)),
    }


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(z - _logsumexp(z))


def baseline(train: list[GradingExample], test: list[GradingExample], seed: int) -> np.ndarray:
    """MiniLM embeddings of the answer and the (first) reference, logistic regression; no rules."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from grading.grader_model import features

    def x(examples: list[GradingExample]) -> np.ndarray:
        answers = features._embed([e.answer for e in examples])
        return np.hstack([answers, features._embed([e.reference_answers[0] for e in examples])])

    y = np.array([LABELS.index(e.label) for e in train])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=seed))
    model.fit(x(train), y)
    p = np.zeros((len(test), 3))
    p[:, model.classes_] = model.predict_proba(x(test))
    return p


ENCODER_FIELDS = ("epochs", "learning_rate", "batch_size", "max_length", "weight_decay", "score_loss_weight")


def _cached(cache: Path | None, name: str, key_data: object, compute: Callable[[], dict]) -> dict:
    key = hashlib.sha1(json.dumps(key_data).encode(), usedforsecurity=False).hexdigest()[:12]
    path = cache / f"{name}-{key}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    out = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out)
    return out


def fold_outputs(
    examples: list[GradingExample], held: np.ndarray, config: GraderConfig, seed: int, cache: Path | None, tag: str
) -> dict:
    """Train the grader without the held-out rows; its components on them.

    The feature model and the cross-encoder are cached apart (by the settings each depends on), so
    changing the feature model does not retrain the cross-encoder.
    """
    held_set = set(held.tolist())
    train = [e for i, e in enumerate(examples) if i not in held_set]
    test = [examples[i] for i in held]
    fold = [seed, held.tolist(), len(examples)]

    def run(cfg: GraderConfig) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            grader_train(train, output_dir=Path(tmp), seed=seed, config=cfg)
            train_seconds = time.monotonic() - started
            grader = grader_load(Path(tmp))
            answers = [_prepare_answer(e.answer) for e in test]
            blank = np.array([_is_blank(a) for a in answers])
            todo = np.where(~blank)[0]
            batch = _featurise([test[i] for i in todo], [answers[i] for i in todo], grader.parts.key_scheme)
            feature_log_p, logits, known = grader.components(batch, every_row=True)
            parts = grader.parts
            partial = np.array([parts.partial_score_by_key.get(k, parts.partial_score) for k in batch.keys])
        return {
            "blank": blank,
            "feature_log_p": feature_log_p,
            "logits": logits if logits is not None else np.zeros((0, 3)),
            "known": known,
            "partial": partial,
            "train_seconds": np.array([train_seconds]),
        }

    def features() -> dict:
        out = run(replace(config, use_cross_encoder=False))
        y_train = np.array([LABELS.index(e.label) for e in train])
        partial_train = np.array([e.score for e in train if e.label == "partially_correct"])
        out["baseline"] = baseline(train, test, seed)
        out["majority"] = np.bincount(y_train, minlength=3)
        out["baseline_partial"] = np.array([partial_train.mean() if len(partial_train) else 0.5])
        return out

    # The ensemble weights only combine cached outputs: changing them retrains nothing.
    feature_config = {
        k: v for k, v in asdict(config).items() if k not in ENCODER_FIELDS and not k.startswith("weight_")
    }
    out = _cached(cache, f"{tag}-features", [feature_config, *fold], features)
    out.pop("logits", None)
    if config.use_cross_encoder:
        encoder_config = {k: getattr(config, k) for k in ENCODER_FIELDS}
        encoder = _cached(cache, f"{tag}-encoder", [encoder_config, *fold], lambda: run(config))
        out["logits"] = encoder["logits"]
        out["train_seconds"] = encoder["train_seconds"]
    return out


def assemble(out: dict, component: np.ndarray) -> np.ndarray:
    """Probabilities for every held-out row: the rule for blanks, `component` for the rest."""
    p = np.tile(EMPTY, (len(out["blank"]), 1))
    p[~out["blank"]] = component
    return p


def expected_score(out: dict, p: np.ndarray) -> np.ndarray:
    s = np.zeros(len(p))
    rest = ~out["blank"]
    s[rest] = np.clip(p[rest, 0] + p[rest, 1] * out["partial"], 0.0, 1.0)
    return s


def ensemble(out: dict, w_feature: float, w_encoder: float) -> np.ndarray:
    z = w_feature * out["feature_log_p"] + w_encoder * out["logits"]
    return softmax(z)


def fit_weights(outs: list[dict], ys: list[np.ndarray]) -> tuple[float, float]:
    """Ensemble weights minimising log loss on the given folds' held-out rows (grid search)."""
    f = np.concatenate([o["feature_log_p"] for o in outs])
    g = np.concatenate([o["logits"] for o in outs])
    y = np.concatenate([yy[~o["blank"]] for o, yy in zip(outs, ys, strict=True)])
    best, best_loss = (1.0, 0.0), np.inf
    for a in np.arange(0.0, 2.01, 0.1):
        for b in np.arange(0.0, 2.01, 0.1):
            if a == 0 and b == 0:
                continue
            z = a * f + b * g
            loss = float(-(z - _logsumexp(z))[np.arange(len(y)), y].mean())
            if loss < best_loss:
                best, best_loss = (round(float(a), 2), round(float(b), 2)), loss
    return best


def folds_arg(value: str) -> set[int]:
    return {int(x) for x in value.split(",")}


def run_split(
    name: str,
    examples: list[GradingExample],
    folds: list[np.ndarray],
    only: set[int] | None,
    config: GraderConfig,
    args: argparse.Namespace,
) -> dict:
    y_all = np.array([LABELS.index(e.label) for e in examples])
    s_all = np.array([e.score for e in examples])
    outs, ys, ss = [], [], []
    for f, held in enumerate(folds):
        if only is not None and f not in only:
            continue
        started = time.monotonic()
        outs.append(fold_outputs(examples, held, config, args.seed, args.cache, f"{name}{f}"))
        ys.append(y_all[held])
        ss.append(s_all[held])
        print(f"[{name}] fold {f}: {len(held)} held out, {time.monotonic() - started:.0f}s", file=sys.stderr)
    has_encoder = config.use_cross_encoder
    methods: dict[str, list[dict]] = {}

    def add(method: str, p: np.ndarray, score: np.ndarray, y: np.ndarray, s: np.ndarray) -> None:
        methods.setdefault(method, []).append(metrics(y, p, s, score))

    fitted = []
    for f, (out, y, s) in enumerate(zip(outs, ys, ss, strict=True)):
        majority = np.tile(np.eye(3)[int(np.argmax(out["majority"]))] * 0.98 + 0.0066, (len(y), 1))
        add("majority_class", majority, np.full(len(y), float(out["majority"][0] / out["majority"].sum())), y, s)
        base_p = out["baseline"]
        add("baseline_minilm_lr", base_p, base_p[:, 0] + base_p[:, 1] * out["baseline_partial"][0], y, s)
        p = assemble(out, softmax(out["feature_log_p"]))
        add("features", p, expected_score(out, p), y, s)
        if has_encoder:
            p = assemble(out, softmax(out["logits"]))
            add("cross_encoder", p, expected_score(out, p), y, s)
            known = out["known"]
            wf = np.where(known, config.weight_feature_known, config.weight_feature_unknown)[:, None]
            we = np.where(known, config.weight_encoder_known, config.weight_encoder_unknown)[:, None]
            p = assemble(out, softmax(wf * out["feature_log_p"] + we * out["logits"]))
            add("ensemble_default_weights", p, expected_score(out, p), y, s)
            others = [o for j, o in enumerate(outs) if j != f]
            if others:
                w = fit_weights(others, [yy for j, yy in enumerate(ys) if j != f])
                fitted.append(w)
                p = assemble(out, ensemble(out, *w))
                add("ensemble_weights_from_other_folds", p, expected_score(out, p), y, s)
    result: dict = {
        "folds": len(outs),
        "n_held_out": int(sum(len(y) for y in ys)),
        "train_seconds_mean": round(float(np.mean([o["train_seconds"][0] for o in outs])), 1),
        "methods": {
            m: {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
            | {"accuracy_per_fold": [round(r["accuracy"], 3) for r in rows]}
            for m, rows in methods.items()
        },
    }
    if has_encoder and outs:
        result["ensemble_weights_fitted_on_all_folds"] = fit_weights(outs, ys)
        result["ensemble_weights_fitted_per_fold"] = fitted
    return result


def throughput(examples: list[GradingExample], config: GraderConfig, seed: int, n: int = 1000) -> dict:
    """Train on every example (the product's training time), then time 1,000 predictions end to end
    and the cross-encoder's forward pass alone on the same answers."""
    from grading.grader_model.cross_encoder import _encoder_logits

    test = [examples[(7 * i) % len(examples)] for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        info = grader_train(examples, output_dir=Path(tmp), seed=seed, config=config)
        grader = grader_load(Path(tmp))
        grader.predict(test[:32])  # warm-up: lazy imports, thread pools
        started = time.monotonic()
        grader.predict(test, batch_size=32)
        end_to_end = time.monotonic() - started
        result = {"n": n, "predict_answers_per_second": round(n / end_to_end, 1), "train_info": info}
        if grader.encoder is not None:
            answers = [_prepare_answer(e.answer) for e in test]
            started = time.monotonic()
            _encoder_logits(
                grader.encoder, grader.tokenizer, [e.reference_answers for e in test], answers, config.max_length, 32
            )
            raw = time.monotonic() - started
            result["cross_encoder_forward_answers_per_second"] = round(n / raw, 1)
            result["end_to_end_over_raw"] = round(raw / end_to_end, 3)
    return result


def version_side_by_side(directory: Path, seed: int) -> dict:
    """The baseline and a trained grader version on the version's own held-out parts, side by side.

    `train_grader` keeps the version's training examples (read back with `examples_load`) and writes its
    held-out parts as CSV beside it; the baseline is trained on the same training examples, so the two
    see the same data.
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()  # grading.training imports models; nothing here touches a database
    from grading.saf import csv_read
    from grading.training import examples_load

    held = [directory / f"heldout_{part}.csv" for part in ("unseen_answers", "unseen_questions")]
    if not any(path.is_file() for path in held):
        raise SystemExit(
            f"{directory} has no held-out answers: train_grader refits a version on all of its data once it has "
            "been measured. Train one with --no-refit to compare it with the baseline here."
        )
    train = [e for e in examples_load(directory) if e.label in LABELS]
    grader = grader_load(directory)
    report: dict = {"version": str(directory), "n_train": len(train)}
    for part in ("unseen_answers", "unseen_questions"):
        path = directory / f"heldout_{part}.csv"
        test = [e for e in csv_read(path) if e.label in LABELS] if path.is_file() else []
        if not test:
            continue
        y = np.array([LABELS.index(e.label) for e in test])
        ours = np.array([LABELS.index(p.label) for p in grader.predict(test)])
        base = baseline(train, test, seed).argmax(1)
        # The baseline has no rule for blank answers; give it ours, so only the models are compared.
        blank = np.array([_is_blank(_prepare_answer(e.answer)) for e in test])
        base[blank] = LABELS.index("incorrect")
        report[part] = {
            "n": len(test),
            "baseline_minilm_lr_accuracy": round(float((base == y).mean()), 4),
            "grader_accuracy": round(float((ours == y).mean()), 4),
            "gain_points": round(100 * float((ours == y).mean() - (base == y).mean()), 1),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a SAF folder (or file) of labelled answers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ua-folds", type=int, default=5)
    parser.add_argument("--uq-folds", type=int, default=6)
    parser.add_argument("--ua-only", type=folds_arg, default=None, help="run only these UA folds, e.g. 0,1")
    parser.add_argument("--uq-only", type=folds_arg, default=None, help="run only these UQ folds")
    parser.add_argument("--splits", default="UA,UQ")
    parser.add_argument("--no-encoder", action="store_true", help="the feature model only (minutes, not hours)")
    parser.add_argument("--cache", type=Path, default=None, help="keep per-fold outputs here")
    parser.add_argument("--throughput", action="store_true", help="also time training and 1,000 predictions")
    parser.add_argument(
        "--version", type=Path, default=None, help="only compare the baseline with this trained grader directory"
    )
    args = parser.parse_args()
    if args.version is not None:
        memoise_embeddings()
        print(json.dumps(version_side_by_side(args.version, args.seed), indent=1))
        return
    if args.data is None:
        parser.error("--data (or --version) is required")

    examples = saf_read(args.data)
    memoise_embeddings()
    config = GraderConfig()
    if args.no_encoder:
        config = replace(config, use_cross_encoder=False)
    report: dict = {
        "data": str(args.data),
        "n": len(examples),
        "questions": len({e.question_id for e in examples}),
        "seed": args.seed,
        "config": asdict(config),
    }
    splits = args.splits.split(",")
    if "UQ" in splits:
        folds = unseen_question_folds(examples, args.uq_folds, args.seed)
        report["unseen_questions"] = run_split("UQ", examples, folds, args.uq_only, config, args)
    if "UA" in splits:
        folds = unseen_answer_folds(examples, args.ua_folds, args.seed)
        report["unseen_answers"] = run_split("UA", examples, folds, args.ua_only, config, args)
    if args.throughput:
        report["throughput"] = throughput(examples, config, args.seed)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
