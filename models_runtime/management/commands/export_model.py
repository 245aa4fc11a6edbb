from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_runtime.errors import ModelError
from models_runtime.export import version_export


class Command(BaseCommand):
    help = "Export a model version as a Hugging Face directory that `vllm serve DIR` and transformers load."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="A registry version name, e.g. smollm2-135m-instruct")
        parser.add_argument("directory", type=Path)
        parser.add_argument("--overwrite", action="store_true", help="Replace a non-empty directory")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            target = version_export(
                version=options["version"], target=options["directory"], overwrite=options["overwrite"]
            )
        except ModelError as error:
            raise CommandError(error.message) from error
        self.stdout.write(self.style.SUCCESS(f"Exported {options['version']} to {target}"))
        self.stdout.write(f"Serve it on a GPU with:  vllm serve {target} --served-model-name {options['version']}")
