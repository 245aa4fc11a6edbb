"""Starting, running, cancelling, resuming and promoting distillation runs.

A run is six steps (`models.STEP_NAMES`). Run by the admin page, each step is its own Celery job on the models
queue (`distillation.model_step_task`): the job runs one step and, when it succeeded, starts the next step's job.
`manage.py distill` runs the same steps in its own process. Either way a step that fails or is cancelled leaves
the run `failed` or `cancelled` with the reason, and `run_resume` continues from the first unfinished step.
Only one run at a time may work on one data set version for a task (a database constraint).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from core.models import Job
from core.services import JobCancelled, job_cancel, job_create, job_progress_set
from distillation import pipeline
from distillation.adapters import adapter_for
from distillation.config import config_for, config_from_dict
from distillation.models import STEP_NAMES, DistillationRun, RunStep, Status
from models_runtime import api as models

logger = logging.getLogger(__name__)
LOG_LIMIT = 60_000


class RunCancelled(Exception):
    """The admin asked to stop the run (checked at every progress report)."""


def source_dataset_register(task: str = "feedback") -> Any:
    """The task's seed data set, shipped with the app (feedback: SAF's English training answers; tutor: MathDial's
    teacher turns), registered once (registering the same rows again gives the same version)."""
    from datasets_admin.services import dataset_register

    adapter = adapter_for(task)
    return dataset_register(
        slug=adapter.DATASET_SLUG,
        name=adapter.DATASET_NAME,
        kind=adapter.DATASET_KIND,
        owner_app="distillation",
        source=adapter.SOURCE,
        license=adapter.LICENSE,
        rows=adapter.source_rows(),
        description=adapter.DATASET_DESCRIPTION,
    )


def run_create(
    *,
    task: str = "feedback",
    config_name: str = "cpu",
    seed: int = 0,
    user: Any = None,
    dataset_slug: str | None = None,
    dataset_number: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> DistillationRun:
    """A new run over a registered data set version (the shipped SAF set by default), marked running.

    Raises ConflictError while another run works on the same task and data."""
    from datasets_admin.selectors import dataset_version_get

    adapter_for(task)  # a task with no adapter is refused before anything is written
    config = config_for(config_name, **(overrides or {}))
    if dataset_slug:
        version = dataset_version_get(slug=dataset_slug, number=dataset_number)
    else:
        version = source_dataset_register(task)
    try:
        with transaction.atomic():
            run = DistillationRun.objects.create(
                task=task,
                config_name=config_name,
                config=config.as_dict(),
                seed=seed,
                dataset_slug=version.dataset.slug,
                dataset_version_id=version.pk,
                dataset_version_number=version.number,
                status=Status.QUEUED,
                message="Queued.",
                teacher=pipeline.teacher_label(),
                student_base=models.version_for_task(task).name,
                created_by=user,
            )
            RunStep.objects.bulk_create([RunStep(run=run, name=name, position=i) for i, name in enumerate(STEP_NAMES)])
    except IntegrityError as error:
        other = DistillationRun.objects.filter(
            task=task, dataset_version_id=version.pk, status__in=["queued", "running"]
        ).first()
        raise ConflictError(
            f"Distillation run {other.pk if other else '?'} is already working on {version.dataset.slug} "
            f"v{version.number} for {task}: wait for it to finish or cancel it, then start again."
        ) from error
    from datasets_admin.services import dataset_version_lock

    dataset_version_lock(version=version, job_id=f"distillation-run-{run.pk}")
    return run


def _rows_for(run: DistillationRun) -> list[dict[str, Any]]:
    from datasets_admin.selectors import dataset_rows, dataset_version_get

    version = dataset_version_get(slug=run.dataset_slug, number=run.dataset_version_number)
    return list(dataset_rows(version=version))


def _append_log(step: RunStep, line: str) -> None:
    stamp = timezone.now().strftime("%H:%M:%S")
    step.log = (step.log + f"{stamp} {line}\n")[-LOG_LIMIT:]


def _reporter(run: DistillationRun, step: RunStep, job: Job | None) -> Any:
    def report(done: int, total: int, message: str = "") -> None:
        step.progress, step.total = min(done, total) if total else done, total
        if total == 0:
            step.progress = 0
        fields = ["progress", "total"]
        if message and message != step.message:
            step.message = message[:500]
            _append_log(step, message)
            fields += ["message", "log"]
        step.save(update_fields=fields)
        if job is not None:
            percent = round(100 * step.progress / step.total) if step.total else 0
            job_progress_set(job=job, progress=min(percent, 100), total=100, message=message)
        if DistillationRun.objects.filter(pk=run.pk, is_cancel_requested=True).exists():
            raise RunCancelled

    return report


def _finish_run(run: DistillationRun, *, status: str, message: str) -> None:
    DistillationRun.objects.filter(pk=run.pk).update(status=status, message=message[:500], finished_at=timezone.now())
    run.refresh_from_db()


def step_execute(*, run: DistillationRun, name: str, job: Job | None = None) -> RunStep:
    """Run one step of `run`; the step (and the run, if it failed or was cancelled) records how it ended."""
    step = run.steps.get(name=name)
    earlier = run.steps.filter(position__lt=step.position).exclude(status=Status.SUCCEEDED).first()
    if earlier is not None:
        raise ConflictError(f"Step {name} waits for {earlier.name} to finish first.")
    if step.status == Status.SUCCEEDED:
        return step
    step.status, step.started_at, step.finished_at = Status.RUNNING, timezone.now(), None
    step.attempts += 1
    step.job_id = str(job.pk) if job else ""
    step.progress = step.total = 0
    _append_log(step, f"Step {name} started (attempt {step.attempts}).")
    step.save()
    DistillationRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, message=f"Running: {step.label}.")
    report = _reporter(run, step, job)
    context = pipeline.Context(
        run_id=run.pk,
        config=config_from_dict(run.config),
        seed=run.seed,
        rows=_rows_for(run),
        report=report,
        adapter=adapter_for(run.task),
    )
    try:
        function = pipeline.STEPS[name]
        figures = function(context, job_id=str(job.pk) if job else "") if name == "evaluate" else function(context)
    except (RunCancelled, JobCancelled):
        step.status, step.message = Status.CANCELLED, "Cancelled by an admin; resume to continue from this step."
        _append_log(step, step.message)
        step.finished_at = timezone.now()
        step.save()
        _finish_run(run, status=Status.CANCELLED, message=f"Cancelled at step {name}.")
        if job is not None:
            raise JobCancelled from None
        return step
    except (ApplicationError, models.ModelError) as error:
        _step_failed(run, step, error.message)
        return step
    except Exception as error:
        logger.exception("distillation run %s step %s failed", run.pk, name)
        _step_failed(run, step, f"{type(error).__name__}: {error}")
        return step
    except BaseException:  # Ctrl-C or a signal in the `distill` command: the run must not stay "running"
        step.status, step.message = Status.CANCELLED, "Stopped (the process was interrupted); resume to continue."
        _append_log(step, step.message)
        step.finished_at = timezone.now()
        step.save()
        _finish_run(run, status=Status.CANCELLED, message=f"Stopped at step {name}: the process was interrupted.")
        raise
    step.status, step.figures, step.finished_at = Status.SUCCEEDED, figures, timezone.now()
    step.message = "Done."
    step.progress = step.total or step.progress
    _append_log(step, f"Step {name} finished.")
    step.save()
    if name == STEP_NAMES[-1]:
        DistillationRun.objects.filter(pk=run.pk).update(candidate_version=figures.get("candidate", ""))
        _finish_run(run, status=Status.SUCCEEDED, message="Finished: a candidate version awaits an admin's decision.")
    return step


def _step_failed(run: DistillationRun, step: RunStep, message: str) -> None:
    step.status, step.message, step.finished_at = Status.FAILED, message[:500], timezone.now()
    _append_log(step, f"Failed: {message}")
    step.save()
    _finish_run(run, status=Status.FAILED, message=f"Step {step.name} failed: {message} Resume to retry from it.")


def run_in_process(*, run: DistillationRun) -> DistillationRun:
    """Every unfinished step, one after the other, in this process (the `distill` command)."""
    for name in STEP_NAMES:
        step = step_execute(run=run, name=name)
        if step.status != Status.SUCCEEDED:
            break
    run.refresh_from_db()
    return run


def next_step(run: DistillationRun) -> RunStep | None:
    return run.steps.exclude(status=Status.SUCCEEDED).order_by("position").first()


def step_job_start(*, run: DistillationRun, user: Any = None) -> Job | None:
    """The job for the run's first unfinished step (on the models queue)."""
    from distillation.tasks import step_task

    step = next_step(run)
    if step is None:
        return None
    job = job_create(
        kind="distillation.step",
        title=f"Distillation run {run.pk}: {step.name}",
        task=step_task,
        created_by=user,
        params={"run": run.pk, "step": step.name},
        unique_key=f"distillation-run-{run.pk}-{step.name}",
    )
    RunStep.objects.filter(pk=step.pk).update(status=Status.QUEUED, job_id=str(job.pk))
    return job


def step_job_run(*, job: Job) -> dict[str, Any]:
    """What a step's job does: run the step; when it succeeded, queue the next one."""
    run = DistillationRun.objects.get(pk=job.params["run"])
    step = step_execute(run=run, name=job.params["step"], job=job)
    if step.status == Status.FAILED:
        raise ApplicationError(step.message)
    result = {"run": run.pk, "step": step.name, "figures": step.figures}
    run.refresh_from_db()
    if next_step(run) is not None and run.status == Status.RUNNING and not run.is_cancel_requested:
        step_job_start(run=run, user=job.created_by)  # the next step, its own job (and key)
    return result


def run_start(*, user: Any, config_name: str, seed: int, task: str = "feedback") -> DistillationRun:
    """The admin page's button: a new run, its first step queued on the models queue."""
    run = run_create(task=task, config_name=config_name, seed=seed, user=user)
    try:
        step_job_start(run=run, user=user)
    except ApplicationError as error:
        _finish_run(run, status=Status.FAILED, message=error.message)
        raise
    return run


def run_cancel(*, run: DistillationRun) -> DistillationRun:
    if not run.is_active:
        raise ConflictError("This run is not running.")
    DistillationRun.objects.filter(pk=run.pk).update(is_cancel_requested=True)
    for step in run.steps.exclude(job_id=""):
        job = Job.objects.filter(pk=step.job_id).first()
        if job is not None and not job.is_finished:
            job_cancel(job=job)
            if job.status == Job.Status.CANCELLED:  # it had not started
                RunStep.objects.filter(pk=step.pk).update(status=Status.CANCELLED)
                _finish_run(run, status=Status.CANCELLED, message=f"Cancelled before step {step.name} started.")
    running = run.steps.filter(status=Status.RUNNING, job_id="").first()
    if running is not None:
        # Run by the `distill` command, with no job to cancel: if that process is alive it stops at its next
        # progress report; if it died (killed), nothing else would ever end the run, so it ends here.
        RunStep.objects.filter(pk=running.pk).update(status=Status.CANCELLED, finished_at=timezone.now())
        _finish_run(run, status=Status.CANCELLED, message=f"Cancelled at step {running.name}.")
    run.refresh_from_db()
    return run


def run_resume(*, run: DistillationRun, user: Any = None, in_process: bool = False) -> DistillationRun:
    """Continue a failed or cancelled run from its first unfinished step (earlier steps are not run again)."""
    if run.is_active:
        raise ConflictError("This run is still running.")
    if next_step(run) is None:
        raise ConflictError("Every step of this run has finished.")
    try:
        DistillationRun.objects.filter(pk=run.pk).update(
            status=Status.QUEUED, is_cancel_requested=False, message="Resumed.", finished_at=None
        )
    except IntegrityError as error:
        raise ConflictError("Another run is working on the same data now; resume this one when it ends.") from error
    run.refresh_from_db()
    if in_process:
        return run_in_process(run=run)
    step_job_start(run=run, user=user)
    return run


def run_promote(*, run: DistillationRun, user: Any, confirm_worse: bool = False) -> DistillationRun:
    """Make the run's candidate serve its task (an admin's decision; never automatic)."""
    if run.status != Status.SUCCEEDED or not run.candidate_version:
        raise ConflictError("Only a finished run with a candidate version can be promoted.")
    version = models.ModelVersion.objects.filter(name=run.candidate_version).first()
    if version is None:
        raise ApplicationError(f"The candidate {run.candidate_version} is no longer registered.")
    models.version_activate(
        version=version,
        task=run.task,
        user=user,
        reason=f"Promoted from distillation run {run.pk} by an admin",
        confirm_worse=confirm_worse,
    )
    DistillationRun.objects.filter(pk=run.pk).update(promoted_at=timezone.now(), promoted_by=user)
    run.refresh_from_db()
    return run
