from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from datasets_admin.management.commands._importing import files_read
from datasets_admin.services import data_import


class Command(BaseCommand):
    help = (
        "Import lecture transcripts (.txt, .vtt, .srt, zips; SIGHT's metadata/*.json beside them is read) "
        "with the upload page's checks. A folder is read whole."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument(
            "--course", default="", help="Course code for these lectures (else the metadata's playlist)."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        files = files_read(options["paths"], suffixes=(".txt", ".vtt", ".srt", ".json", ".zip"))
        report = data_import(files=files, course_code=options["course"])
        _print(self, report.as_dict(), as_json=options["json"])
        if report.refused and not (report.lectures or report.lectures_updated):
            raise CommandError("Nothing was imported.")


def _print(command: BaseCommand, result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        command.stdout.write(json.dumps(result, indent=2))
        return
    command.stdout.write(
        f"{result['lectures']} new lectures, {result['lectures_updated']} replaced, "
        f"{result['comments']} new comments ({result['comments_unchanged']} already stored), "
        f"{result['refused_count']} refused."
    )
    for item in result["refused"]:
        where = f" row {item['row']}" if item["row"] else ""
        command.stdout.write(f"  refused {item['file']}{where}: {item['message']}")
