from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coaching.uptake import UPTAKE_MODEL_DIR, uptake_exchanges_read, uptake_train
from core.errors import ApplicationError
from models_runtime.errors import ModelError


class Command(BaseCommand):
    help = (
        "Train the uptake model on exchanges in the NCTE uptake layout; keeps whole observations aside, prints the "
        "held-out figures as JSON and writes the held-out exchanges beside the model."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="CSV in the NCTE uptake layout")
        parser.add_argument("--output", type=Path, default=UPTAKE_MODEL_DIR, help="model directory to write")
        parser.add_argument(
            "--model-version", default="uptake-pair-ridge-2", help="version name stored with every prediction"
        )
        parser.add_argument("--heldout-share", type=float, default=0.2, help="share of observations kept aside")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--refit", action="store_true", help="refit on all observations after measuring")
        parser.add_argument("--json", action="store_true", help="print one JSON object (the default output)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["heldout_share"] < 1:
            raise CommandError("--heldout-share must be between 0 and 1.")
        try:
            exchanges = uptake_exchanges_read(options["data"])
            model, figures = uptake_train(
                exchanges,
                version=options["model_version"],
                heldout_share=options["heldout_share"],
                seed=options["seed"],
                refit=options["refit"],
            )
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        output: Path = options["output"]
        model.save(output)
        heldout = set(model.meta["figures"].get("heldout_observation_ids", []))
        with (output / "heldout_exchanges.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(asdict(exchanges[0]).keys()))
            writer.writeheader()
            for exchange in exchanges:
                if exchange.obs_id in heldout:
                    writer.writerow(asdict(exchange))
        self.stdout.write(json.dumps({**figures, "output": str(output)}))
