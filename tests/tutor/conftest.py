from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache

from tests.conftest import School
from tests.tutor.factories import SPOONS_SOLUTION, SPOONS_STATEMENT, ProblemFactory
from tutor.models import Problem


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    # The rate limit counts in the cache; each test starts with none sent.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _short_replies(settings) -> None:
    # The real model on two CPU cores: a few tokens per reply keep the suite fast. The policy's
    # checks do not depend on the length.
    settings.TUTOR_MAX_NEW_TOKENS = 6
    # The real model on a busy machine may take longer than the product's time budget; the tests that are about
    # the budget set it themselves (test_reply_budget.py).
    settings.TUTOR_MODEL_FIRST_SENTENCE_SECONDS = None
    settings.TUTOR_MODEL_REPLY_SECONDS = None


@pytest.fixture
def problem(school: School) -> Problem:
    return ProblemFactory(course=school.course, title="Julia's spoons")


@pytest.fixture
def other_problem(school: School) -> Problem:
    return ProblemFactory(course=school.other_course, title="Spoons elsewhere")


CONVERSATION = (
    "Teacher: (generic)Hi Mariana, could you please walk me through your solution?|EOM|"
    "Student: I started with 12 - 3 = 9 and then 9 - 5 = 4.|EOM|"
    "Teacher: (probing)Why did you subtract the 3 spoons she used?|EOM|"
    "Mariana: Because she used them.|EOM|"
    "Teacher: (focus)She still has those spoons. How many is 12 + 3?|EOM|"
    "Student: 15, so 15 - 5 = 10."
)


@pytest.fixture
def mathdial_file(tmp_path: Path) -> Path:
    """Five qids: the held-out part (last 20% of qids) is the last one."""
    buffer = io.StringIO()
    columns = ["qid", "scenario", "question", "ground_truth", "student_incorrect_solution", "student_profile",
               "teacher_described_confusion", "self-correctness", "conversation"]  # fmt: skip
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for number in range(1, 6):
        writer.writerow(
            {
                "qid": str(6000020 + number),
                "scenario": "1",
                "question": SPOONS_STATEMENT.replace("Julia", f"Julia {number}"),
                "ground_truth": SPOONS_SOLUTION,
                "student_incorrect_solution": "12 - 3 = 9 and 9 - 5 = 4, so 4 spoons.\n 4",
                "student_profile": "Mariana is a 7th grade student.",
                "teacher_described_confusion": "subtracting instead of adding",
                "self-correctness": "Yes",
                "conversation": CONVERSATION,
            }
        )
    path = tmp_path / "mathdial_dev.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path
