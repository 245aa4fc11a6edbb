"""Measure the reflection-question dialogue on a JSONL file of topics, beside a one-shot baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coaching.reflection.dialogue import DEFAULT_MAX_ROUNDS, MAX_ROUNDS_LIMIT
from coaching.reflection.evaluation import questions_evaluate, topics_read
from core.errors import ApplicationError
from models_runtime import api as models


class Command(BaseCommand):
    help = (
        "Run the dialogue on every topic of a JSONL file ({topic, concepts, level, materials?}) and print "
        "pass_rate, mean_rounds, stopped_by_signal_share and the one-shot baseline's pass_rate. Stores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topics", type=Path, required=True)
        parser.add_argument("--max-rounds", type=int, default=DEFAULT_MAX_ROUNDS)
        parser.add_argument("--concurrency", type=int, default=4, help="Topics run at once (batched by the model).")
        parser.add_argument("--limit", type=int, default=0, help="Only the first N topics.")
        parser.add_argument("--no-baseline", action="store_true")
        parser.add_argument("--details", action="store_true", help="Every topic's drafts and final question.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["max_rounds"] <= MAX_ROUNDS_LIMIT:
            raise CommandError(f"--max-rounds is between 1 and {MAX_ROUNDS_LIMIT}.")
        try:
            specs = topics_read(options["topics"], max_rounds=options["max_rounds"])
            if options["limit"] > 0:
                specs = specs[: options["limit"]]
            report = questions_evaluate(
                specs,
                concurrency=options["concurrency"],
                baseline=not options["no_baseline"],
                details=options["details"],
                progress=lambda line: self.stderr.write(line),
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        except models.ModelError as error:
            raise CommandError(error.message) from error
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
            return
        for key, value in report.items():
            if key != "items":
                self.stdout.write(f"{key}: {value}")
