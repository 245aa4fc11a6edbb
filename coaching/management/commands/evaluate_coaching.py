from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coaching.evaluation import suggestions_evaluate
from coaching.uptake import UPTAKE_MODEL_DIR, uptake_evaluate, uptake_exchanges_read, uptake_model_read
from core.errors import ApplicationError
from models_runtime.errors import ModelError


class Command(BaseCommand):
    help = (
        "Measure the uptake model on exchanges in the NCTE uptake layout: Spearman against the human uptake_zscore, "
        "accuracy against uptake_majority (beside the majority class and word overlap); writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--uptake-data", type=Path, required=True, help="CSV in the NCTE uptake layout")
        parser.add_argument("--model", type=Path, default=UPTAKE_MODEL_DIR, help="an uptake model directory")
        parser.add_argument(
            "--exclude-trained",
            action="store_true",
            help="leave out the observations the model was trained on (its held-out ones remain)",
        )
        parser.add_argument(
            "--suggestions",
            action="store_true",
            help="also measure the suggestion check on lessons built from the file's observations (in order)",
        )
        parser.add_argument("--min-exchanges", type=int, default=20, help="observations with fewer are not lessons")
        parser.add_argument("--json", action="store_true", help="print one JSON object (the default output)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = uptake_model_read(options["model"])
            exchanges = uptake_exchanges_read(options["uptake_data"])
            if options["exclude_trained"]:
                heldout = set(model.meta.get("figures", {}).get("heldout_observation_ids", []))
                if model.meta.get("refit_on_all"):
                    raise CommandError("This model was refitted on all observations: none are held out.")
                exchanges = [e for e in exchanges if e.obs_id in heldout]
            if not exchanges:
                raise CommandError("No exchanges to evaluate.")
            figures = uptake_evaluate(model, exchanges)
            if options["suggestions"]:
                figures["suggestions"] = suggestions_evaluate(exchanges, min_exchanges=options["min_exchanges"])
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        self.stdout.write(json.dumps(figures))
