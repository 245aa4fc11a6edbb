from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from grading.evaluation import grader_evaluate_file
from grading.training import examples_read
from models_runtime.errors import ModelError


class Command(BaseCommand):
    help = "Grade a labelled set with the active versions and print the figures; writes nothing to course data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", nargs="+", type=Path, required=True, help="SAF XML files/folders or CSV files")
        parser.add_argument("--limit", type=int, help="Evaluate the first N answers only")
        parser.add_argument("--no-feedback", action="store_true", help="Labels and scores only")
        parser.add_argument("--retrieval-feedback", action="store_true", help="Feedback by retrieval, no generation")
        parser.add_argument("--json", action="store_true", help="Print one JSON object (the default output)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            examples = examples_read(options["data"])
            if options["limit"]:
                examples = examples[: options["limit"]]
            figures = grader_evaluate_file(
                examples,
                include_feedback=not options["no_feedback"],
                use_model_for_feedback=not options["retrieval_feedback"],
            )
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        self.stdout.write(json.dumps(figures))
