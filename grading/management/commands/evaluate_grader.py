from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from grading.evaluation import CURVE_KS, grader_evaluate_file, grader_evaluate_teacher_graded
from grading.training import examples_read
from models_runtime.errors import ModelError


class Command(BaseCommand):
    help = "Grade a labelled set with the active versions and print the figures; writes nothing to course data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", nargs="+", type=Path, required=True, help="SAF XML files/folders or CSV files")
        parser.add_argument("--limit", type=int, help="Evaluate the first N answers only")
        parser.add_argument("--no-feedback", action="store_true", help="Labels and scores only")
        parser.add_argument("--retrieval-feedback", action="store_true", help="Feedback by retrieval, no generation")
        parser.add_argument(
            "--model-feedback",
            action="store_true",
            help=(
                "Also measure the feedback the active feedback model writes by itself for every answer "
                "(no retrieved text chosen), beside the product's figures"
            ),
        )
        parser.add_argument(
            "--teacher-graded",
            type=int,
            metavar="K",
            help=(
                "Take K answers of each question as graded by the teacher (their gold labels, chosen as the review "
                "queue orders them), grade the rest with them at once and print the figures on the rest"
            ),
        )
        parser.add_argument("--curve", action="store_true", help=f"The figures for K = {', '.join(map(str, CURVE_KS))}")
        parser.add_argument("--seed", type=int, default=0, help="Breaks ties in the choice of teacher-graded answers")
        parser.add_argument("--json", action="store_true", help="Print one JSON object (the default output)")

    def handle(self, *args: Any, **options: Any) -> None:
        k = options["teacher_graded"]
        if options["model_feedback"] and options["no_feedback"]:
            raise CommandError("--model-feedback measures feedback: leave out --no-feedback.")
        if k is not None and k < 0:
            raise CommandError("--teacher-graded must be 0 or more.")
        try:
            examples = examples_read(options["data"])
            if options["limit"]:
                examples = examples[: options["limit"]]
            if options["curve"] or k is not None:
                ks = CURVE_KS if options["curve"] else (k,)
                self.stdout.write(json.dumps(grader_evaluate_teacher_graded(examples, ks=ks, seed=options["seed"])))
                return
            figures = grader_evaluate_file(
                examples,
                include_feedback=not options["no_feedback"],
                use_model_for_feedback=not options["retrieval_feedback"],
                model_feedback=options["model_feedback"],
            )
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        self.stdout.write(json.dumps(figures))
