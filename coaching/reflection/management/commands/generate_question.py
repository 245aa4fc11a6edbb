"""Write one reflection question with the Student-Teacher / Teacher-Educator dialogue; print the
dialogue and the final question. Stores nothing."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coaching.reflection.dialogue import DEFAULT_MAX_ROUNDS, dialogue_generate, question_spec_build
from coaching.reflection.materials import materials_text_from_upload
from core.errors import ApplicationError
from models_runtime import api as models


class Command(BaseCommand):
    help = "Write one reflection question (the two-agent dialogue) and print it; nothing is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", required=True)
        parser.add_argument("--concepts", required=True, help="Comma-separated key concepts.")
        parser.add_argument("--level", required=True, help="A school year (year 7) or a level (university).")
        parser.add_argument("--materials", type=Path, help="A .txt, .md, .pdf or .docx file.")
        parser.add_argument("--max-rounds", type=int, default=DEFAULT_MAX_ROUNDS)
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            materials = ""
            if options["materials"] is not None:
                path: Path = options["materials"]
                try:
                    data = path.read_bytes()
                except OSError as error:
                    raise CommandError(f"The materials file {path} could not be read: {error.strerror}.") from error
                materials = materials_text_from_upload(name=path.name, data=data)
            spec = question_spec_build(
                topic=options["topic"],
                concepts=options["concepts"],
                level=options["level"],
                materials=materials,
                max_rounds=options["max_rounds"],
            )
            outcome = dialogue_generate(spec)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        except models.ModelError as error:
            raise CommandError(error.message) from error
        if options["json"]:
            body = {
                "rounds": [asdict(item) for item in outcome.rounds],
                "final_question": outcome.final_question,
                "final_source": outcome.final_source,
                "final_checks": outcome.final_checks,
                "final_passes_checks": outcome.final_passes_checks,
                "stop_reason": outcome.stop_reason,
                "provenance": outcome.provenance,
            }
            self.stdout.write(json.dumps(body, indent=2, ensure_ascii=False))
            return
        for item in outcome.rounds:
            self.stdout.write(f"Round {item.number}")
            self.stdout.write(f"  Student-Teacher: {item.draft or '(no valid draft)'}")
            if item.rationale:
                self.stdout.write(f"  Rationale: {item.rationale}")
            failed = [check["name"] for check in item.checks if not check["passed"]]
            self.stdout.write(f"  Checks: {'all pass' if not failed else 'failed ' + ', '.join(failed)}")
            self.stdout.write(f"  Coaching ({item.coaching_source}): {item.coaching}")
        source = " (repaired in code)" if outcome.final_source == "repair" else ""
        self.stdout.write(f"Final question{source}: {outcome.final_question}")
        self.stdout.write(f"Stopped by: {outcome.stop_reason}")
