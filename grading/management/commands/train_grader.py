from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from grading.selectors import reviewed_examples
from grading.training import examples_read, grader_train_and_register
from models_runtime.errors import ModelError


class Command(BaseCommand):
    help = (
        "Train the label-and-score grader from graded answers (SAF XML files or folders, or CSV with columns "
        "question_id,question,reference_answer,answer,label,score[,feedback]); hold out part of the data, "
        "register a candidate version with its held-out figures (then trained again on all the data), and with "
        "--activate make it the active grader."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", nargs="+", type=Path, required=True, help="SAF XML files/folders or CSV files")
        parser.add_argument("--activate", action="store_true", help="Make the new version the active grader")
        parser.add_argument("--name", help="Version name (default: grader-<timestamp>)")
        parser.add_argument("--include-reviewed", action="store_true", help="Add teachers' reviewed grades")
        parser.add_argument("--fast", action="store_true", help="A tiny training run (for tests and demos)")
        parser.add_argument(
            "--no-refit",
            action="store_true",
            help=(
                "Keep the fit measured on the held-out part as the version, with the held-out answers written "
                "beside it (heldout_unseen_answers.csv, heldout_unseen_questions.csv) for evaluate_grader; by "
                "default the version is trained again on every answer once it has been measured"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            examples = examples_read(options["data"])
            if options["include_reviewed"]:
                examples += reviewed_examples()
            self.stderr.write(f"Training on {len(examples)} labelled answers (part is held out for figures)...")
            result = grader_train_and_register(
                examples=examples,
                name=options["name"],
                activate=options["activate"],
                fast=options["fast"],
                refit=not options["no_refit"],
                progress=lambda done, total: self.stderr.write(f"  {done}/{total}"),
            )
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        self.stdout.write(json.dumps(result, indent=2))
