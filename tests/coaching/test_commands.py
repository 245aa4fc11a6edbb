"""coach_transcript prints a report without storing; evaluate_coaching prints the uptake figures."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coaching.models import Transcript
from coaching.uptake import UPTAKE_MODEL_DIR
from tests.coaching.conftest import lesson_vtt

pytestmark = pytest.mark.django_db


def test_coach_transcript_prints_the_report_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lesson.vtt"
    path.write_text(lesson_vtt(), encoding="utf-8")
    out = StringIO()
    call_command("coach_transcript", str(path), "--teacher-speaker", "Teacher", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report) >= {
        "utterances",
        "segments",
        "highlights",
        "missed_opportunities",
        "suggestions",
        "student_talk_share",
    }
    assert [u["line"] for u in report["utterances"]] == list(range(1, 16))
    assert {"speaker", "text", "line", "move", "uptake"} <= set(report["utterances"][0])
    text_of = {u["line"]: u["text"] for u in report["utterances"]}
    for item in report["highlights"] + report["missed_opportunities"] + report["suggestions"]:
        assert item["quote"] in text_of[item["line"]]
    assert report["teacher_speakers"] == ["Teacher"]
    assert not Transcript.objects.exists()


def test_coach_transcript_names_an_unknown_speaker(tmp_path: Path) -> None:
    path = tmp_path / "lesson.vtt"
    path.write_text(lesson_vtt(), encoding="utf-8")
    with pytest.raises(CommandError, match=r"“Mr\. X” is not a speaker"):
        call_command("coach_transcript", str(path), "--teacher-speaker", "Mr. X", "--json", stdout=StringIO())
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("coach_transcript", str(tmp_path / "missing.vtt"), stdout=StringIO())


def test_evaluate_coaching_prints_the_figures() -> None:
    out = StringIO()
    call_command(
        "evaluate_coaching", "--uptake-data", str(UPTAKE_MODEL_DIR / "heldout_exchanges.csv"), "--json", stdout=out
    )
    figures = json.loads(out.getvalue())
    assert figures["n"] > 200
    assert -1 <= figures["uptake_spearman"] <= 1 and 0 <= figures["uptake_accuracy"] <= 1
    assert figures["uptake_spearman"] > figures["word_overlap_spearman"]


def test_evaluate_coaching_refuses_a_file_without_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="not in the NCTE uptake layout"):
        call_command("evaluate_coaching", "--uptake-data", str(path), stdout=StringIO())
