from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datasets_admin.management.commands._importing import files_read
from datasets_admin.management.commands.import_lectures import _print
from datasets_admin.services import data_import


class Command(BaseCommand):
    help = (
        "Import students' comments (CSV, comma- or space-delimited as SIGHT's files, or JSON; zips) with the "
        "upload page's checks; each is classified and, when confused, linked to its passage."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        files = files_read(options["paths"], suffixes=(".csv", ".json", ".zip"))
        report = data_import(files=files)
        _print(self, report.as_dict(), as_json=options["json"])
        if report.refused and not report.comments and not report.comments_unchanged:
            raise CommandError("Nothing was imported.")
