"""Training and evaluating the grader: data files and teachers' reviewed grades in, a registered version out."""

from __future__ import annotations

import csv
import json
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import ApplicationError
from grading.grader import bank_write
from grading.grader_model import (
    GraderConfig,
    GradingExample,
    grader_evaluate,
    grader_load,
    grader_train,
    grader_unload,
    question_text_key,
)
from grading.saf import CSV_COLUMNS, SafFormatError, csv_read, saf_read
from models_runtime import api as models


def examples_read(paths: list[Path]) -> list[GradingExample]:
    """Read SAF XML files or folders and CSV files; any bad file stops everything, naming the problem."""
    examples: list[GradingExample] = []
    for path in paths:
        if not path.exists():
            raise ApplicationError(f"{path} does not exist.")
        try:
            if path.is_file() and path.suffix.lower() == ".csv":
                examples.extend(csv_read(path))
            else:
                examples.extend(saf_read(path))
        except (SafFormatError, ValueError) as error:
            raise ApplicationError(str(error), code="bad_data_file") from error
    labelled = [example for example in examples if example.label]
    if len(labelled) < 10:
        raise ApplicationError(f"Training needs at least 10 labelled answers; the data has {len(labelled)}.")
    return labelled


def split_holdout(
    examples: list[GradingExample], *, seed: int = 13, answer_share: float = 0.15, question_share: float = 0.15
) -> tuple[list[GradingExample], list[GradingExample], list[GradingExample]]:
    """(train, unseen answers of known questions, answers of unseen questions), reproducibly."""
    rng = random.Random(seed)
    by_question: dict[str, list[GradingExample]] = defaultdict(list)
    for example in examples:
        by_question[example.question_id or example.question].append(example)
    keys = sorted(by_question)
    rng.shuffle(keys)
    held_questions = set(keys[: int(len(keys) * question_share)]) if len(keys) >= 5 else set()
    train: list[GradingExample] = []
    unseen_answers: list[GradingExample] = []
    unseen_questions: list[GradingExample] = []
    for key in sorted(by_question):
        rows = list(by_question[key])
        if key in held_questions:
            unseen_questions.extend(rows)
            continue
        rng.shuffle(rows)
        cut = int(len(rows) * answer_share) if len(rows) >= 8 else 0
        unseen_answers.extend(rows[:cut])
        train.extend(rows[cut:])
    return train, unseen_answers, unseen_questions


def grader_train_and_register(
    *,
    examples: list[GradingExample],
    name: str | None = None,
    activate: bool = False,
    user: Any = None,
    job_id: str = "",
    fast: bool = False,
    refit: bool = True,
    progress: Callable[[int, int], None] | None = None,
    config: Any = None,
    quick: bool = False,
    measure: bool = True,
    activation_reason: str = "Trained by train_grader with --activate",
) -> dict[str, Any]:
    """Measure on a held-out part, register a candidate (and activate it if asked).

    The figures come from a fit on the training part, scored on answers and questions it never saw. With
    `refit` (the default) the version is then trained again on every example, the held-out ones included:
    what it grades next gains the held-out answers as neighbours and the held-out questions as known
    questions, and the next retraining starts from all of them. Without it, the measured fit is the version,
    and the held-out parts are kept beside it as CSV files for `evaluate_grader` to re-measure.
    """
    started = time.monotonic()
    # Without `measure` (the quick first grader) nothing is held out: every answer is a neighbour.
    train, unseen_answers, unseen_questions = split_holdout(examples) if measure else (list(examples), [], [])
    refit = refit and measure
    name = name or f"grader-{timezone.now():%Y%m%d-%H%M%S}"
    directory = Path(settings.MODELS_DIR) / "graders" / name
    if directory.exists():
        raise ApplicationError(f"A grader called {name} already exists.")
    directory.mkdir(parents=True)
    measured_dir = directory / "measured_fit" if refit else directory
    measured_dir.mkdir(exist_ok=True)
    fits = 2 if refit else 1

    def fit_progress(fit: int) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(fit * total + done, fits * total)

    try:
        if fast and config is None:
            config = GraderConfig.fast()
        info = grader_train(train, output_dir=measured_dir, progress=fit_progress(0), config=config)
        grader = grader_load(measured_dir)
        heldout: dict[str, Any] = {}
        if unseen_answers:
            heldout.update(grader_evaluate(grader, unseen_answers))
        if unseen_questions:
            heldout["unseen_questions"] = grader_evaluate(grader, unseen_questions)
        del grader
        if refit:
            grader_unload(measured_dir)
            shutil.rmtree(measured_dir)
            info = grader_train(examples, output_dir=directory, progress=fit_progress(1), config=config)
            kept = examples
        else:
            heldout_csv_write(directory / "heldout_unseen_answers.csv", unseen_answers)
            heldout_csv_write(directory / "heldout_unseen_questions.csv", unseen_questions)
            kept = train
        examples_write(directory, kept)
        bank_write(
            directory,
            [
                (question_text_key(example.question), example.answer, example.label or "", example.feedback)
                for example in kept
            ],
        )
        metrics = {
            "primary": "accuracy",
            "heldout": {key: value for key, value in heldout.items() if isinstance(value, (int, float))},
            "unseen_questions": heldout.get("unseen_questions", {}),
            "measured_train_size": len(train),
            "train_size": len(kept),
            "refit_on_all": refit,
            "quick": quick,
            "training_seconds": round(time.monotonic() - started, 1),
            "training": {key: value for key, value in info.items() if isinstance(value, (int, float, str))},
        }
        held = len(unseen_answers) + len(unseen_questions)
        notes = f"Measured on {held} held-out answers after training on {len(train)}; "
        notes += f"then trained on all {len(kept)}." if refit else f"trained on those {len(kept)} only."
        if not measure:
            notes = f"Trained on {len(kept)} answers; not measured on held-out data."
        if quick:
            notes = (
                "Quick first grader (a sample of the seed data, no cross-encoder); the full grader replaces it. "
                + notes
            )
        version = models.version_register(
            name=name,
            base_model="all-MiniLM-L6-v2",
            kind="grader",
            location=str(directory),
            tasks=["grader"],
            metrics=metrics,
            made_by_job=job_id,
            notes=notes,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # a failed run leaves nothing half-written
        raise
    if activate:
        models.version_activate(
            version=version,
            task="grader",
            user=user,
            reason=activation_reason,
            confirm_worse=True,
        )
    return {"version": version.name, "metrics": metrics, "activated": activate}


TRAINING_FILE = "training_examples.jsonl"


def examples_write(directory: Path, examples: list[GradingExample]) -> None:
    with (directory / TRAINING_FILE).open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(asdict(example)) + "\n")


def heldout_csv_write(path: Path, examples: list[GradingExample]) -> None:
    """The held-out answers in the documented CSV layout, so `evaluate_grader --data` can re-measure them."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for example in examples:
            writer.writerow(
                [
                    example.question_id,
                    example.question,
                    " || ".join(example.reference_answers),
                    example.answer,
                    example.label or "",
                    "" if example.score is None else f"{example.score:.4f}",
                    example.feedback,
                ]
            )


def examples_load(directory: Path) -> list[GradingExample]:
    path = directory / TRAINING_FILE
    if not path.is_file():
        return []
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        examples.append(GradingExample(**data))
    return examples


def examples_merge(base: list[GradingExample], reviewed: list[GradingExample]) -> list[GradingExample]:
    """The earlier version's examples plus teachers' reviewed grades, each answer once.

    An earlier version already holds the grades reviewed before it; a teacher may have changed one since,
    so the reviewed grade of the same answer to the same question replaces the earlier copy.
    """
    reviewed_keys = {(example.question_id, example.answer.strip()) for example in reviewed}
    kept = [example for example in base if (example.question_id, example.answer.strip()) not in reviewed_keys]
    return kept + reviewed


SEED_DATA_DIR = Path(__file__).resolve().parent / "seed_data" / "saf_english"


def examples_sample(examples: list[GradingExample], *, per_question: int, seed: int = 13) -> list[GradingExample]:
    """At most `per_question` answers of each question, the labels taken in turn so each label is there."""
    rng = random.Random(seed)
    by_question: dict[str, dict[str, list[GradingExample]]] = defaultdict(lambda: defaultdict(list))
    for example in examples:
        by_question[example.question_id or example.question][example.label or ""].append(example)
    kept: list[GradingExample] = []
    for key in sorted(by_question):
        pools = [list(by_question[key][label]) for label in sorted(by_question[key])]
        for pool in pools:
            rng.shuffle(pool)
        taken = 0
        while taken < per_question and any(pools):
            for pool in pools:
                if pool and taken < per_question:
                    kept.append(pool.pop())
                    taken += 1
    return kept


def grader_is_quick(version: Any) -> bool:
    """A quick first grader (made so a fresh install can grade at once) that the full one replaces."""
    return bool((version.metrics or {}).get("quick"))
