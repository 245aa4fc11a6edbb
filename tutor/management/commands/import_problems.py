"""Import a problem file into a course's bank: `manage.py import_problems --course CODE PATH`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Course
from core.errors import ApplicationError
from tutor.importers import FORMATS
from tutor.services import problems_import


class Command(BaseCommand):
    help = "Import problems (MathDial CSV, Tutorloop CSV or JSON) into a course's bank: every row or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The CSV or JSON file.")
        parser.add_argument("--course", required=True, help="The course's code, e.g. demo-101.")
        parser.add_argument("--format", dest="file_format", choices=FORMATS, default="auto")
        parser.add_argument("--assign", action="store_true", help="Assign the new problems to students.")

    def handle(self, *args: Any, **options: Any) -> None:
        course = Course.objects.filter(code=options["course"]).first()
        if course is None:
            raise CommandError(f"No course has the code “{options['course']}”.")
        path: Path = options["path"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        try:
            report = problems_import(
                course=course,
                data=data,
                filename=path.name,
                file_format=options["file_format"],
                is_assigned=options["assign"],
            )
        except ApplicationError as error:
            problems = error.extra.get("problems") or [error.message]
            raise CommandError("Nothing was imported.\n" + "\n".join(problems)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.created} problem{'s' if report.created != 1 else ''} into {course.code}"
                + (f"; {report.skipped} already in the bank." if report.skipped else ".")
            )
        )
