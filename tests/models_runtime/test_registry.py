from __future__ import annotations

from pathlib import Path

import pytest

from models_runtime.errors import ModelError, ModelFilesError, ModelNotFoundError
from models_runtime.models import ActivationRecord, ActiveModel, ModelVersion
from models_runtime.registry import (
    ActivationNeedsConfirmation,
    model_dir_for,
    version_activate,
    version_for_task,
    version_register,
    version_retire,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def grader_dir(tmp_path: Path) -> Path:
    path = tmp_path / "grader-a"
    path.mkdir()
    (path / "weights.bin").write_bytes(b"\0")
    return path


def register_grader(name: str, path: Path, accuracy: float) -> ModelVersion:
    return version_register(
        name=name,
        base_model="all-MiniLM-L6-v2",
        kind="grader",
        location=str(path),
        tasks=["grader"],
        metrics={"primary": "accuracy", "heldout": {"accuracy": accuracy, "macro_f1": accuracy - 0.05}},
    )


def test_the_bundled_student_serves_generator_tasks_by_default() -> None:
    version = version_for_task("tutor")
    assert version.name == "smollm2-135m-instruct"
    assert version.pk is not None  # registered by a migration


def test_no_grader_until_one_is_trained() -> None:
    with pytest.raises(ModelNotFoundError, match=r"No grader model is active yet") as raised:
        version_for_task("grader")
    # A teacher reads this message: it never tells them to run a command.
    assert "manage.py" not in str(raised.value) and "train_grader" not in str(raised.value)


def test_unknown_task_and_unknown_version_are_named() -> None:
    with pytest.raises(ModelNotFoundError, match="Unknown task “poetry”"):
        version_for_task("poetry")
    with pytest.raises(ModelNotFoundError, match="No model version or directory is called “nope”"):
        model_dir_for("nope")


def test_registering_missing_files_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match="missing or incomplete"):
        version_register(
            name="ghost", base_model="x", kind="generator", location=str(tmp_path / "absent"), tasks=["tutor"]
        )
    assert not ModelVersion.objects.filter(name="ghost").exists()


def test_activation_is_recorded_and_statuses_follow(grader_dir: Path, admin_user) -> None:
    first = register_grader("grader-a", grader_dir, 0.80)
    second = register_grader("grader-b", grader_dir, 0.86)
    version_activate(version=first, task="grader", user=admin_user, reason="first trained grader")
    record = version_activate(version=second, task="grader", user=admin_user, reason="better on held-out")
    first.refresh_from_db()
    second.refresh_from_db()
    assert version_for_task("grader") == second
    assert (first.status, second.status) == ("candidate", "active")
    assert record.previous_version == first
    assert record.activated_by == admin_user
    assert ActiveModel.objects.filter(task="grader").count() == 1
    assert ActivationRecord.objects.count() == 2


def test_activating_a_worse_version_asks_for_confirmation(grader_dir: Path) -> None:
    good = register_grader("grader-good", grader_dir, 0.86)
    worse = register_grader("grader-worse", grader_dir, 0.70)
    version_activate(version=good, task="grader", reason="best so far")
    with pytest.raises(ActivationNeedsConfirmation, match="scores worse on held-out data than grader-good"):
        version_activate(version=worse, task="grader", reason="try it")
    assert version_for_task("grader") == good
    record = version_activate(version=worse, task="grader", reason="try it", confirm_worse=True)
    assert record.was_confirmed_despite_worse_metrics is True
    assert version_for_task("grader") == worse


def test_a_version_may_only_serve_its_tasks_and_needs_a_reason(grader_dir: Path) -> None:
    grader = register_grader("grader-x", grader_dir, 0.8)
    with pytest.raises(ModelError, match="may not serve “tutor”"):
        version_activate(version=grader, task="tutor", reason="why not")
    with pytest.raises(ModelError, match="Say why"):
        version_activate(version=grader, task="grader", reason="  ")
    assert not ActiveModel.objects.filter(task__in=["tutor", "grader"]).exists()


def test_an_active_version_cannot_be_retired(grader_dir: Path) -> None:
    grader = register_grader("grader-y", grader_dir, 0.8)
    version_activate(version=grader, task="grader", reason="only one")
    with pytest.raises(ModelError, match="still serves grader"):
        version_retire(version=grader)


def test_openai_version_needs_a_url() -> None:
    with pytest.raises(ModelError, match="needs a base URL"):
        version_register(
            name="remote", base_model="x", kind="generator", backend="openai", location="gpu", tasks=["tutor"]
        )
