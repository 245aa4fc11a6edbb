"""Evaluate the tutor on MathDial: `evaluate_tutor --data PATH --mode next-turn|interactive|diagnosis|judgment`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_runtime.api import ModelError
from tutor.evaluation import (
    SPLITS,
    evaluate_diagnosis,
    evaluate_interactive,
    evaluate_judgment,
    evaluate_next_turn,
)


class Command(BaseCommand):
    help = (
        "Evaluate the tutor on the held-out part (last 20% of qids) of a MathDial CSV file: next-turn "
        "(sacreBLEU, ROUGE-L, move accuracy against the human teacher), interactive (success@5, telling@5 "
        "with a simulated student), diagnosis (the first reply to student_incorrect_solution points at its "
        "first wrong step) or judgment (scripted students: right and wrong answers, an opening solution, "
        "asking to be told). Writes nothing to course data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="A MathDial CSV file.")
        parser.add_argument(
            "--mode", choices=("next-turn", "interactive", "diagnosis", "judgment"), default="next-turn"
        )
        parser.add_argument("--limit", type=int, default=None, help="Evaluate at most this many dialogues.")
        parser.add_argument("--seed", type=int, default=0, help="Which dialogues --limit picks.")
        parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
        parser.add_argument(
            "--no-model", action="store_true", help="Send the policy's own replies: measure the code without the model."
        )
        parser.add_argument("--max-new-tokens", type=int, default=32, help="Per tutor reply.")
        parser.add_argument("--attempts-before-telling", type=int, default=3)
        parser.add_argument(
            "--step-hints",
            action="store_true",
            help="As a course that allows step hints after the attempts (the default course setting does not).",
        )
        parser.add_argument(
            "--split",
            choices=SPLITS,
            default="heldout",
            help=(
                "heldout (last 20%% of qids, for reporting), development (the rest, for trying wording; split again "
                "into tuning, its first 75%%, and validation, its last 25%%), all."
            ),
        )
        parser.add_argument("--student-task", default="teacher", help="The model task that plays the student.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["data"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}.")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        progress = None if options["json"] else (lambda line: self.stderr.write(line))
        common = {
            "path": path,
            "limit": options["limit"],
            "seed": options["seed"],
            "use_model": not options["no_model"],
            "max_new_tokens": options["max_new_tokens"],
            "attempts_before_telling": options["attempts_before_telling"],
            "allows_step_hints": options["step_hints"],
            "split": options["split"],
            "progress": progress,
        }
        try:
            if options["mode"] == "next-turn":
                figures = evaluate_next_turn(**common)
            elif options["mode"] == "diagnosis":
                figures = evaluate_diagnosis(**common)
            elif options["mode"] == "judgment":
                figures = evaluate_judgment(**common)
            else:
                figures = evaluate_interactive(**common, student_task=options["student_task"])
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"{path} could not be read as MathDial CSV: {error}") from error
        except ModelError as error:
            raise CommandError(f"The model failed: {error}") from error
        if options["json"]:
            self.stdout.write(json.dumps(figures))
            return
        for name, value in figures.items():
            self.stdout.write(f"{name:>24}: {value}")
