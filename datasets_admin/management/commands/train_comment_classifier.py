from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datasets_admin.classifier import C_VALUE, EMBEDDINGS, MINILM
from datasets_admin.services import (
    ANNOTATED_COMMENTS,
    SHIPPED_CLASSIFIER,
    annotated_comments_read,
    classifier_datasets_register,
    classifier_install,
    classifier_train,
)


class Command(BaseCommand):
    help = (
        "Train the comment classifier on SIGHT's annotated comments outside the held-out `validation` split "
        "(and admins' corrections), print its held-out agreement; --output writes the shippable artifact, "
        "--activate installs it and relabels the stored comments."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--data", type=Path, default=ANNOTATED_COMMENTS)
        parser.add_argument(
            "--output", type=Path, help=f"Write the artifact here (the shipped one: {SHIPPED_CLASSIFIER})."
        )
        parser.add_argument("--activate", action="store_true")
        parser.add_argument("--no-corrections", action="store_true")
        parser.add_argument("--c-value", type=float, default=C_VALUE)
        parser.add_argument(
            "--embedding",
            choices=EMBEDDINGS,
            default=MINILM,
            help="The comment vectors: MiniLM (the shipped classifier's) or the static table (fast bulk ingest).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["data"].is_file():
            raise CommandError(f"{options['data']} does not exist.")
        artifact = classifier_train(
            annotated=annotated_comments_read(options["data"]),
            use_corrections=not options["no_corrections"],
            c_value=options["c_value"],
            embedding=options["embedding"],
        )
        # The rows it was trained and measured on: registered and locked only when this version is installed.
        if options["activate"]:
            artifact["metrics"]["datasets"] = classifier_datasets_register(artifact=artifact, job_id="command")
        else:
            artifact.pop("_training_rows", None)
            artifact.pop("_heldout_rows", None)
        if options["output"]:
            options["output"].write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if options["activate"]:
            classifier_install(artifact=artifact, job_id="command")
        self.stdout.write(json.dumps({"version": artifact["version"], **artifact["metrics"]}, indent=2))
