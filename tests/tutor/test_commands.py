"""The management commands: import_problems and evaluate_tutor."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import School
from tutor.evaluation import evaluate_interactive
from tutor.models import Problem, TutorSession

pytestmark = pytest.mark.django_db


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


def test_evaluate_diagnosis_points_at_the_first_wrong_step_of_the_held_out_solutions(mathdial_file: Path) -> None:
    # The fixture's solution "12 - 3 = 9 and 9 - 5 = 4": its first wrong step is the first (12 + 3 = 15).
    out = io.StringIO()
    call_command("evaluate_tutor", "--data", str(mathdial_file), "--mode", "diagnosis", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert (figures["solutions"], figures["n"]) == (1, 1)  # the held-out qid, one solution per qid
    assert figures["first_wrong_step_accuracy"] == 1.0
    assert figures["first_wrong_step_accuracy_by_order"] == 1.0
    assert figures["engages_with_solution"] == 1.0
    assert not Problem.objects.exists() and not TutorSession.objects.exists()


def test_evaluate_judgment_with_scripted_students(mathdial_file: Path) -> None:
    out = io.StringIO()
    call_command(
        "evaluate_tutor", "--data", str(mathdial_file), "--mode", "judgment", "--no-model", "--json", stdout=out
    )
    figures = json.loads(out.getvalue())
    assert figures["problems"] == 1
    assert figures["affirms_right_answers"] == 1.0  # "I think the answer is 10." -> "Yes, 10 is correct, ..."
    assert figures["does_not_affirm_wrong_answers"] == 1.0  # 15, a step's result, given as the answer
    assert figures["engages_with_opening_solution"] == 1.0
    assert figures["answer_never_stated"] == 1.0
    assert figures["misses"] == []


def test_the_diagnosis_labels_are_written_from_the_data() -> None:
    from tests.tutor.test_policy import DESK, SPOONS
    from tutor.policy.diagnosis import first_wrong_step_by_order, first_wrong_step_label

    assert first_wrong_step_label(SPOONS, "12 - 3 = 9 and 9 - 5 = 4\n 4") == 0
    assert first_wrong_step_label(SPOONS, "12 + 3 = 15 and 15 - 3 = 12\n 12") == 1
    solution = "3 * 50 = 150\n3 * 50 = 150\n150 + 150 = 300\n200 + 300 = 600\n 600"
    assert first_wrong_step_label(DESK, solution) == 3
    assert first_wrong_step_by_order(DESK, solution) == 3
    # By position, a right number in the wrong place is a wrong step.
    assert first_wrong_step_by_order(DESK, "150 + 150 = 300\n3 * 50 = 150\n 500") == 0
