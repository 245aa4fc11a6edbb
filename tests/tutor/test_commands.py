"""The management commands: import_problems and evaluate_tutor."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import School
from tests.tutor.factories import SPOONS_SOLUTION, SPOONS_STATEMENT
from tutor.evaluation import evaluate_interactive
from tutor.models import Problem, TutorSession

pytestmark = pytest.mark.django_db

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


def test_import_problems_command(school: School, mathdial_file: Path) -> None:
    out = io.StringIO()
    call_command("import_problems", str(mathdial_file), "--course", school.course.code, "--assign", stdout=out)
    assert "Imported 5 problems into" in out.getvalue()
    assert Problem.objects.filter(course=school.course, is_assigned=True).count() == 5


def test_import_problems_command_refuses_a_bad_file_and_imports_nothing(school: School, tmp_path: Path) -> None:
    bad = tmp_path / "bank.csv"
    bad.write_text("statement,worked_solution,final_answer\nHow many?,1+1=2,2\nAnd now?,,4\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Row 3: “worked_solution” is missing or empty"):
        call_command("import_problems", str(bad), "--course", school.course.code)
    with pytest.raises(CommandError, match="No course has the code"):
        call_command("import_problems", str(bad), "--course", "nope")
    assert not Problem.objects.exists()


def test_evaluate_next_turn_without_the_model(mathdial_file: Path) -> None:
    out = io.StringIO()
    call_command(
        "evaluate_tutor", "--data", str(mathdial_file), "--mode", "next-turn", "--no-model", "--json", stdout=out
    )
    figures = json.loads(out.getvalue())
    assert (figures["dialogues"], figures["n"]) == (1, 3)
    # generic and focus as the human teacher chose; at the wrong calculation this teacher asked why (probing)
    # where the policy points at the calculation the step needs (focus)
    assert figures["move_accuracy"] == 0.6667
    assert figures["sacrebleu"] > 0 and 0 < figures["rouge_l"] <= 1
    assert {"seconds", "split"} <= figures.keys()
    assert not Problem.objects.exists() and not TutorSession.objects.exists()  # no course data written


def test_evaluate_interactive_with_the_simulated_student(mathdial_file: Path) -> None:
    figures = evaluate_interactive(path=mathdial_file, use_model=False, tutor_turns=1, student_max_new_tokens=4)
    assert figures["dialogues"] == 1
    assert figures["telling_at_5"] == 0.0  # the opening turn never tells
    assert 0.0 <= figures["success_at_5"] <= 1.0
    assert figures["student_model"] == "smollm2-135m-instruct"


@pytest.mark.parametrize(
    ("profile", "name"),
    [("DeAndre is a 7th grade student.", "DeAndre"), ("O'Neil likes maths.", "O'Neil"), ("  ", ""), ("a student", "")],
)
def test_the_student_name_is_read_whole_from_the_profile(profile: str, name: str) -> None:
    from tutor.evaluation import _name_from_profile

    assert _name_from_profile(profile) == name
