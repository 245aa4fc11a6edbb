from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand

from datasets_admin.static_embedding import STATIC_TABLE, static_table_build


class Command(BaseCommand):
    help = (
        "Build the static embedding table from the bundled all-MiniLM-L6-v2 (each vocabulary token through the "
        "model once, PCA, Zipf weights); the shipped one is datasets_admin/demo_data/static_minilm.npz. Minutes."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", type=Path, default=STATIC_TABLE)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        table = static_table_build()
        output: Path = options["output"]
        partial = output.with_suffix(".partial.npz")
        np.savez_compressed(partial, vectors=table["vectors"])
        partial.replace(output)
        shape = list(table["vectors"].shape)
        seconds = round(time.perf_counter() - started, 1)
        self.stdout.write(json.dumps({"output": str(output), "shape": shape, "seconds": seconds}))
