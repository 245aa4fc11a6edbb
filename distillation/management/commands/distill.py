from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from distillation.config import PRESETS, RunConfig
from distillation.models import DistillationRun, Status
from distillation.services import run_create, run_in_process, run_resume
from models_runtime.errors import ModelError


def _pairs(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in RunConfig.__dataclass_fields__:
            raise CommandError(
                f"--set {item}: give KEY=VALUE with KEY one of {', '.join(RunConfig.__dataclass_fields__)}."
            )
        kind = type(getattr(PRESETS["cpu"], key))
        try:
            values[key] = kind(raw)
        except ValueError as error:
            raise CommandError(f"--set {item}: {raw!r} is not a {kind.__name__}.") from error
    return values


class Command(BaseCommand):
    help = (
        "Run the ARTE pipeline (draft, student preference, align the teacher, generate, distill, evaluate) in this "
        "process and print each step's figures. The result is a candidate version; nothing is promoted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task", default="feedback", choices=["feedback", "tutor", "questions"])
        parser.add_argument("--config", default="cpu", choices=sorted(PRESETS))
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--resume", type=int, metavar="RUN", help="Continue run RUN from its first unfinished step")
        parser.add_argument("--seeds", type=int, help="Override the configuration's number of seed items")
        parser.add_argument("--eval-items", type=int, help="Override the number of held-out answers measured")
        parser.add_argument("--sft-steps", type=int, help="Override the number of SFT steps of each student")
        parser.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="Override any configuration value"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object (the default output)")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            if options["resume"]:
                run = DistillationRun.objects.filter(pk=options["resume"]).first()
                if run is None:
                    raise CommandError(f"There is no distillation run {options['resume']}.")
                run = run_resume(run=run, in_process=True)
            else:
                run = run_create(
                    task=options["task"],
                    config_name=options["config"],
                    seed=options["seed"],
                    overrides={
                        "seeds": options["seeds"],
                        "eval_items": options["eval_items"],
                        "sft_steps": options["sft_steps"],
                        **_pairs(options["set"]),
                    },
                )
                run = run_in_process(run=run)
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        steps = {
            step.name: {
                "status": step.status,
                "figures": step.figures,
                **({"message": step.message} if step.status != Status.SUCCEEDED else {}),
            }
            for step in run.steps.all()
        }
        self.stdout.write(
            json.dumps(
                {
                    "run": run.pk,
                    "status": run.status,
                    "message": run.message,
                    "task": run.task,
                    "config": run.config_name,
                    "seed": run.seed,
                    "dataset": f"{run.dataset_slug} v{run.dataset_version_number}",
                    "teacher": run.teacher,
                    "candidate": run.candidate_version,
                    "steps": steps,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
        )
        if run.status != Status.SUCCEEDED:
            raise CommandError(run.message)
