from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coaching.parsing import transcript_parse
from coaching.services import coaching_analyse_turns, parsed_to_turns
from core.errors import ApplicationError
from models_runtime.errors import ModelError


class Command(BaseCommand):
    help = "Analyse a transcript file as the coaching report would, without storing anything; prints one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="CSV, text (Speaker: text), WebVTT, SRT or JSON transcript")
        parser.add_argument(
            "--teacher-speaker",
            action="append",
            default=[],
            metavar="NAME",
            help="a speaker who is the teacher (repeat for several); guessed when omitted",
        )
        parser.add_argument("--phrase", action="store_true", help="let the coaching model phrase the suggestions")
        parser.add_argument("--json", action="store_true", help="print one JSON object (the default output)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path} cannot be read: {error.strerror}.") from error
        try:
            parsed = transcript_parse(data, filename=path.name)
            teachers = options["teacher_speaker"] or parsed.guessed_teachers()
            turns = parsed_to_turns(parsed, teacher_speakers=teachers)
            analysis, provenance = coaching_analyse_turns(turns, phrase=options["phrase"])
        except (ApplicationError, ModelError) as error:
            raise CommandError(error.message) from error
        by_line = {a.line: a for a in analysis.utterances}
        utterances = [
            {
                "line": t.line,
                "speaker": t.speaker,
                "role": t.role,
                "text": t.text,
                "start": t.start,
                **{k: v for k, v in asdict(by_line[t.line]).items() if k != "line"},
            }
            for t in turns
        ]
        report = {
            "format": parsed.format,
            "teacher_speakers": sorted({t.speaker for t in turns if t.role == "teacher"}),
            "utterances": utterances,
            "segments": [asdict(s) for s in analysis.segments],
            "highlights": [asdict(m) for m in analysis.highlights],
            "missed_opportunities": [asdict(m) for m in analysis.missed_opportunities],
            "suggestions": [asdict(m) for m in analysis.suggestions],
            "student_talk_share": analysis.student_talk_share,
            "metrics": analysis.metrics,
            "provenance": provenance,
        }
        self.stdout.write(json.dumps(report, ensure_ascii=False))
