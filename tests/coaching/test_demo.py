"""The seed gives the demo teacher one analysed lesson built from an NCTE observation, once."""

from __future__ import annotations

import csv

import pytest

from accounts.models import User
from coaching.models import Transcript
from datasets_admin.demo import DEMO_DATA_DIR, demo_seed

pytestmark = pytest.mark.django_db


def test_the_demo_teacher_has_an_analysed_lesson_from_the_ncte_exchanges_in_order() -> None:
    demo_seed()
    teacher = User.objects.get(username="teacher")
    transcript = Transcript.objects.get(teacher=teacher, is_demo=True)
    assert transcript.status == Transcript.Status.READY
    with (DEMO_DATA_DIR / "ncte_uptake_obs4426.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["exchange_idx"]) for r in rows] == sorted(int(r["exchange_idx"]) for r in rows)
    utterances = list(transcript.utterances.order_by("line"))
    assert len(utterances) == 2 * len(rows)
    assert utterances[0].text == " ".join(rows[0]["student_text"].split())
    assert utterances[1].text == " ".join(rows[0]["teacher_text"].split()) and utterances[1].role == "teacher"
    report = transcript.report
    assert len(report.suggestions) >= 3
    assert report.metrics["suggestion_check"]["candidates"] > report.metrics["suggestion_check"]["kept"]
    text_of = {u.line: u.text for u in utterances}
    for moment in report.highlights + report.missed_opportunities + report.suggestions:
        assert moment["quote"] in text_of[moment["line"]]

    demo_seed()  # idempotent: the same lesson, not a second one
    assert Transcript.objects.filter(teacher=teacher, is_demo=True).get().pk == transcript.pk
