from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from distillation.config import PRESETS
from distillation.models import DistillationRun, Status
from distillation.services import run_create, run_in_process, run_resume
from models_runtime.errors import ModelError


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
                    overrides={"seeds": options["seeds"]},
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
