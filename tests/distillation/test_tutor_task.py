"""Issue 23, tutor turns: the tutor task's adapter (MathDial teacher turns with the tutor's plans, the reply gate
as the product's check, teachers' rewritten replies as corrections) and a tiny run of every step for real."""

from __future__ import annotations

import pytest

from datasets_admin.selectors import dataset_rows, dataset_version_get
from distillation import services, tutor_task
from distillation.models import Status
from models_runtime.models import ModelVersion
from tests.conftest import School
from tests.tutor.factories import ProblemFactory
from tutor.models import Turn
from tutor.services import session_start, turn_flag, turn_student_create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return tutor_task.source_rows()


def test_mathdial_turns_are_split_by_problem_and_carry_the_plan_the_model_would_say(rows) -> None:
    by_split: dict[str, set[str]] = {}
    for row in rows:
        by_split.setdefault(row["split"], set()).add(row["qid"])
    assert set(by_split) == {"train", "dev", "heldout"}
    assert not (by_split["train"] & by_split["heldout"]) and not (by_split["dev"] & by_split["heldout"])
    assert not (by_split["train"] & by_split["dev"])
    assert all(tutor_task.usable(row) for row in rows)
    assert len({tutor_task.key(row) for row in rows}) == len(rows)
    # The product's own view (the planned text) passes the gate it is checked with, nearly always.
    passing = sum(1 for row in rows if not tutor_task.check(row["plan"]["text"], row))
    assert passing / len(rows) > 0.98


def test_the_gate_is_the_check_a_draft_that_states_the_answer_or_is_empty_is_refused(rows) -> None:
    row = next(r for r in rows if r["final_answer"] and not r["plan"]["is_solved"] and r["plan"]["move"] == "focus")
    assert tutor_task.check(f"The answer is {row['final_answer']}.", row)
    assert tutor_task.check("", row) == "empty"
    assert tutor_task.check(row["plan"]["text"], row) == ""
    assert tutor_task.clean('Teacher: "Okay, so what did you do first?"\nStudent: I added.') == (
        "Okay, so what did you do first?"
    )


def test_a_teachers_rewritten_reply_is_a_correction_with_the_machine_reply_rejected(school: School) -> None:
    problem = ProblemFactory(course=school.course, title="Julia's spoons")
    session, _ = session_start(student=school.student, problem=problem)
    _, reply = turn_student_create(session=session, student=school.student, text="I got 4 because 12 - 3 = 9")
    Turn.objects.filter(pk=reply.pk).update(status=Turn.Status.COMPLETE, text=reply.planned_text)
    assert tutor_task.corrections() == []
    turn_flag(turn=reply, teacher=school.teacher, better_reply="  Why did you take away   the 3 spoons? ")
    [row] = tutor_task.corrections()
    assert row["reply"] == "Why did you take away the 3 spoons?" and row["machine_text"] == reply.planned_text
    assert row["split"] == "correction" and tutor_task.usable(row)
    assert "I got 4 because 12 - 3 = 9" in tutor_task.student_messages(row, bank=None)[-1]["content"]


def test_a_tiny_tutor_run_end_to_end_registers_a_candidate_for_the_tutor_task() -> None:
    run = services.run_create(task="tutor", config_name="tiny", seed=1)
    assert run.dataset_slug == tutor_task.DATASET_SLUG
    run = services.run_in_process(run=run)
    steps = {step.name: step for step in run.steps.all()}
    assert run.status == Status.SUCCEEDED, run.message
    assert steps["draft"].figures["seed_items"] == 3 and steps["draft"].figures["drafts"] == 6
    assert steps["prefer"].figures["drafts_scored"] >= 3
    tailored = dataset_version_get(slug="arte-tutor-tailored")
    assert tailored.is_locked and tailored.row_count == steps["generate"].figures["tailored_rows"]
    row = next(dataset_rows(version=tailored))
    assert row["policy_version"] == tutor_task.POLICY_VERSION and row["reply"] and row["plan"]["text"]
    assert not tutor_task.check(row["reply"], row)  # every training reply passes the gate as written
    evaluation = steps["evaluate"].figures
    for name in ("base", "untailored", "tailored", "plan"):
        assert evaluation[name]["sacrebleu"] >= 0 and 0 <= evaluation[name]["rouge_l"] <= 1
        assert 0 <= evaluation[name]["model_text_kept"] <= 1
    assert evaluation["plan"]["model_text_kept"] == 0
    version = ModelVersion.objects.get(name=run.candidate_version)
    assert version.name.startswith("tutor-arte-") and version.tasks == ["tutor"]
    assert version.status == ModelVersion.Status.CANDIDATE  # nothing is promoted automatically
    assert version.metrics["primary"] == "sacrebleu" and "keeps_own_draft" not in version.metrics
    assert version.metrics["heldout"] == evaluation["tailored"]


def test_a_task_without_an_adapter_is_refused_before_anything_is_written() -> None:
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError, match="no distillation adapter"):
        services.run_create(task="questions", config_name="tiny")
    assert not services.DistillationRun.objects.exists()
