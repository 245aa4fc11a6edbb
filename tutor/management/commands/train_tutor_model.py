"""Fine-tune the tutor's model on teachers' replies: `manage.py train_tutor_model --data MATHDIAL.csv`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from models_runtime.errors import ModelError
from tutor.evaluation import SPLITS
from tutor.training import tutor_model_train_and_register


class Command(BaseCommand):
    help = (
        "Fine-tune the model that serves the tutor on what teachers said: every teacher turn of a MathDial CSV "
        "(the policy's planned reply in the prompt, the teacher's turn as the target) and the better replies "
        "teachers wrote for flagged turns. Registers a candidate version for the tutor task; --evaluate measures it "
        "on the held-out qids (with --split development), --activate makes it serve the tutor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, help="A MathDial CSV file (optional with teachers' corrections).")
        parser.add_argument(
            "--split",
            choices=SPLITS,
            default="development",
            help="Which qids to train on: development (the first 80%%, so that --evaluate measures on the rest), all.",
        )
        parser.add_argument("--no-corrections", action="store_true", help="Leave out teachers' better replies.")
        parser.add_argument("--name", help="Version name (default: tutor-<timestamp>).")
        parser.add_argument("--epochs", type=float, default=1.0)
        parser.add_argument("--learning-rate", type=float, default=5e-5)
        parser.add_argument("--max-examples", type=int, help="Train on at most this many replies (quick runs).")
        parser.add_argument("--max-steps", type=int, default=-1, help="Stop after this many optimiser steps.")
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="Seed of the data order and initialisation (held-out sacreBLEU varies by about 0.3 between seeds).",
        )
        parser.add_argument("--evaluate", action="store_true", help="Measure next-turn figures on the held-out qids.")
        parser.add_argument("--evaluate-limit", type=int, help="Measure on at most this many held-out dialogues.")
        parser.add_argument("--activate", action="store_true", help="Make the new version serve the tutor.")

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path | None = options["data"]
        if data is not None and not data.is_file():
            raise CommandError(f"No such file: {data}.")
        if options["split"] == "heldout":
            raise CommandError("Train on development or all: the held-out qids are what --evaluate measures on.")
        if options["evaluate"] and (data is None or options["split"] != "development"):
            raise CommandError(
                "--evaluate measures on the held-out qids, so it needs --data and --split development "
                "(a version trained on all qids has no held-out part left)."
            )
        if options["epochs"] <= 0:
            raise CommandError("--epochs must be more than 0.")
        for option in ("max_examples", "evaluate_limit"):
            if options[option] is not None and options[option] < 1:
                raise CommandError(f"--{option.replace('_', '-')} must be at least 1.")

        def progress(step: int, total: int) -> None:
            if step % 10 == 0 or step == total:
                self.stderr.write(f"  step {step}/{total}")

        try:
            result = tutor_model_train_and_register(
                data=data,
                split=options["split"],
                include_corrections=not options["no_corrections"],
                name=options["name"],
                epochs=options["epochs"],
                learning_rate=options["learning_rate"],
                max_examples=options["max_examples"],
                max_steps=options["max_steps"],
                seed=options["seed"],
                evaluate=options["evaluate"],
                evaluate_limit=options["evaluate_limit"],
                activate=options["activate"],
                progress=progress,
            )
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"{data} could not be read as MathDial CSV: {error}") from error
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        self.stdout.write(json.dumps(result, indent=2))
