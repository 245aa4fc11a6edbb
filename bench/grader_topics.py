"""New questions on a new topic: leave-one-topic-out on SAF English (the grader's figures for issue 19).

SAF's English questions come from six lectures of a networking course (the file names' suffix: DLL, IPP,
LM, MM, PE, TC; three questions each). Each fold keeps one whole lecture aside, trains on the other five
and grades the held-out lecture's answers, as SAF's authors built their "unseen questions" test set.

    .venv/bin/python bench/grader_topics.py [--curve] [--known] [--topics DLL,IPP] [--cache FILE]

Prints JSON: per method, accuracy and macro-F1 per fold and their mean (over folds and over all answers);
`--curve` gives K = 0, 5, 10, 20 teacher-graded
answers per held-out question (chosen as the review queue chooses them), figures on the rest, and beside
them the K = 0 grades of the same rest (`grader_k{K}_rest_without_them`: the rest are easier than all answers,
since the queue takes the least confident first).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

SEED_DATA = Path(__file__).resolve().parent.parent / "grading" / "seed_data" / "saf_english"


def memoise_embeddings(cache_path: Path | None) -> None:
    """Embed each text once (and, with a cache file, once across runs)."""
    from grading.grader_model import features

    original = features._embed
    cache: dict[str, np.ndarray] = {}
    if cache_path is not None and cache_path.exists():
        cache = pickle.loads(cache_path.read_bytes())  # noqa: S301 - our own cache file

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, original(missing), strict=True))
            if cache_path is not None:
                cache_path.write_bytes(pickle.dumps(cache))
        return np.stack([cache[t] for t in texts]) if texts else original([])

    features._embed = cached  # every embedding of the grader goes through features._embed


def topic_of(question_id: str) -> str:
    return question_id.split("_")[1]


def scores(y: np.ndarray, guess: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    return {
        "accuracy": round(float((y == guess).mean()), 4),
        "macro_f1": round(float(f1_score(y, guess, average="macro")), 4),
    }


# Attacks written while widening the stripping rules (tuning) and after it (held out; the tests read them too).
ATTACKS = json.loads(
    (Path(__file__).resolve().parent.parent / "grading" / "eval_data" / "injection_attacks.json").read_text()
)
TUNING_ATTACKS: list[str] = ATTACKS["tuning"]
HELD_OUT_ATTACKS: list[str] = ATTACKS["held_out"]


def attacked(examples: list, attacks: list[str]) -> list:
    """Every answer not labelled correct gets an attack: appended, or (every other one) in its middle."""
    from dataclasses import replace as copy

    out = []
    for i, example in enumerate(examples):
        if example.label == "correct":
            out.append(example)
            continue
        attack = attacks[i % len(attacks)]
        words = example.answer.split()
        if i % 2 and len(words) > 6:
            middle = len(words) // 2
            text = " ".join(words[:middle]) + ". " + attack + " " + " ".join(words[middle:])
        else:
            text = example.answer.rstrip() + " " + attack
        out.append(copy(example, answer=text))
    return out


def known_questions(examples: list, seed: int) -> dict:
    """New answers to known questions: one fold of five (a fifth of every question's answers, stratified by
    label) held out; clean accuracy, and accuracy with instructions to the grader in the wrong answers."""
    from grading.grader_model import GraderConfig, grader_evaluate, grader_load, grader_train

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from grader_experiments import baseline, unseen_answer_folds

    from grading.grader_model import LABELS

    held = unseen_answer_folds(examples, 5, seed)[0]
    held_set = set(held.tolist())
    train = [e for i, e in enumerate(examples) if i not in held_set]
    test = [examples[i] for i in held]
    y = np.array([LABELS.index(e.label) for e in test])
    out: dict[str, Any] = {"n": len(test), "baseline": scores(y, baseline(train, test, seed).argmax(1))}
    with tempfile.TemporaryDirectory() as tmp:
        grader_train(train, output_dir=Path(tmp), seed=seed, config=replace(GraderConfig(), use_cross_encoder=False))
        grader = grader_load(Path(tmp))
        out["clean"] = grader_evaluate(grader, test)
        out["tuning_attacks"] = grader_evaluate(grader, attacked(test, TUNING_ATTACKS))
        out["held_out_attacks"] = grader_evaluate(grader, attacked(test, HELD_OUT_ATTACKS))
    for name in ("tuning_attacks", "held_out_attacks"):
        out[name]["points_lost"] = round(100 * (out["clean"]["accuracy"] - out[name]["accuracy"]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SEED_DATA)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "grader_topics_embeddings.pkl")
    parser.add_argument("--curve", action="store_true")
    parser.add_argument("--no-grader", action="store_true", help="baseline and ablations only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--known", action="store_true", help="new answers to known questions and injected instructions instead"
    )
    parser.add_argument("--topics", help="comma-separated topics to hold out (default: each in turn)")
    args = parser.parse_args()
    memoise_embeddings(args.cache)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()  # grading.evaluation imports models; nothing here touches a database

    from grading.evaluation import teacher_graded_split
    from grading.grader_model import LABELS, GraderConfig, grader_load, grader_train
    from grading.saf import saf_read

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from grader_experiments import baseline

    examples = saf_read(args.data)
    if args.known:
        print(json.dumps(known_questions(examples, args.seed), indent=1))
        return
    topics = sorted({topic_of(e.question_id) for e in examples})
    if args.topics:
        topics = args.topics.split(",")
    y_all = np.array([LABELS.index(e.label) for e in examples])
    results: dict[str, dict] = {}

    def record(method: str, topic: str, y: np.ndarray, guess: np.ndarray) -> None:
        entry = results.setdefault(method, {"folds": {}, "_y": [], "_g": []})
        entry["folds"][topic] = scores(y, guess)
        entry["_y"].append(y)
        entry["_g"].append(guess)

    ks = (0, 5, 10, 20) if args.curve else (0,)
    for topic in topics:
        started = time.monotonic()
        held = np.array([i for i, e in enumerate(examples) if topic_of(e.question_id) == topic])
        train = [e for i, e in enumerate(examples) if topic_of(e.question_id) != topic]
        test = [examples[i] for i in held]
        y = y_all[held]
        record(
            "majority",
            topic,
            y,
            np.full(len(y), np.bincount(y_all[np.setdiff1d(np.arange(len(examples)), held)]).argmax()),
        )
        record("baseline", topic, y, baseline(train, test, args.seed).argmax(1))
        if args.no_grader:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            grader_train(
                train, output_dir=Path(tmp), seed=args.seed, config=replace(GraderConfig(), use_cross_encoder=False)
            )
            grader = grader_load(Path(tmp))
            predictions = grader.predict(test)
            for k in ks:
                graded, rest = teacher_graded_split(test, k=k, seed=args.seed, grader=grader, predictions=predictions)
                guess_k = grader.predict([test[i] for i in rest], graded=[test[i] for i in graded])
                guess = np.array([LABELS.index(p.label) for p in guess_k])
                record(f"grader_k{k}", topic, y[rest], guess)
                if k:  # the same rest graded without the teacher's answers: what the K answers themselves add
                    alone = np.array([LABELS.index(predictions[i].label) for i in rest])
                    record(f"grader_k{k}_rest_without_them", topic, y[rest], alone)
        print(f"[{topic}] {len(held)} answers, {time.monotonic() - started:.0f}s", file=sys.stderr)

    out = {}
    for method, entry in results.items():
        folds = entry["folds"]
        pooled = scores(np.concatenate(entry["_y"]), np.concatenate(entry["_g"]))
        out[method] = {
            "mean_accuracy": round(float(np.mean([f["accuracy"] for f in folds.values()])), 4),
            "pooled": pooled,
            "folds": folds,
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
