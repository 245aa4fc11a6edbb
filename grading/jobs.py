"""The bodies of grading's background jobs. Only grading.tasks imports this module: a task claims its job
row (core.services.job_run) and runs one of these on it.

Each body reads through grading.selectors, writes through grading.services and grading.training, and records
its progress on the job row; the services start jobs by their tasks' names, so nothing here is imported back.
"""

from __future__ import annotations

import contextlib
from typing import Any

from core.errors import ApplicationError, ConflictError
from core.models import Job
from core.services import job_progress_set
from grading.grader import active_grader_dir
from grading.grader_model import GraderConfig, GradingExample
from grading.models import Assignment
from grading.selectors import assignment_regradable_grades, assignment_ungraded_submissions, reviewed_examples
from grading.services import assignment_grading_start, grader_training_start, grades_regrade, submissions_grade
from grading.training import (
    SEED_DATA_DIR,
    examples_load,
    examples_merge,
    examples_read,
    examples_sample,
    grader_is_quick,
    grader_train_and_register,
)
from models_runtime import api as models

# Answers graded per step of a grading job: its progress moves, and a cancelled job keeps what it graded.
GRADING_CHUNK = 16
# The quick first grader's sample of the seed data: this many answers per question.
QUICK_ANSWERS_PER_QUESTION = 12


def assignment_grading_run(*, job: Job) -> dict[str, Any]:
    """The job's work: grade in chunks, recording progress; a cancelled job keeps what it graded. Machine
    grades no teacher has touched, of questions a teacher has reviewed answers of, are graded again with
    those answers (the grader learns from the teacher's first grades at once)."""
    assignment = Assignment.objects.get(pk=job.params["assignment_id"])
    pending = assignment_ungraded_submissions(assignment=assignment)
    regradable = assignment_regradable_grades(assignment=assignment)
    total = len(pending) + len(regradable)
    job_progress_set(job=job, progress=0, total=total, message=f"{total} answers to grade")
    graded = regraded = 0
    for start in range(0, len(pending), GRADING_CHUNK):
        graded += len(submissions_grade(submissions=pending[start : start + GRADING_CHUNK]))
        job_progress_set(job=job, progress=min(start + GRADING_CHUNK, len(pending)), message=f"{graded} graded")
    for start in range(0, len(regradable), GRADING_CHUNK):
        regraded += grades_regrade(grades=regradable[start : start + GRADING_CHUNK])
        done = len(pending) + min(start + GRADING_CHUNK, len(regradable))
        job_progress_set(job=job, progress=done, message=f"{graded} graded, {regraded} changed by the reviewed answers")
    if job.params.get("then_train_full_grader"):
        with contextlib.suppress(ConflictError):  # a full training is queued or running already
            grader_training_start(user=job.created_by)
    return {"graded": graded, "regraded": regraded, "assignment": assignment.title}


def _active_grader_state() -> tuple[list[GradingExample] | None, bool]:
    """(the active grader's training examples, whether it is a quick first grader); (None, False) if none."""
    try:
        directory, _ = active_grader_dir()
    except models.ModelError:
        return None, False
    return examples_load(directory), grader_is_quick(models.version_for_task("grader"))


def grader_training_run(*, job: Job) -> dict[str, Any]:
    """The (re)training job: the active grader's data (or, for the first grader, the SAF seed data
    shipped with Tutorloop) plus teachers' reviewed grades. The first grader is activated at once;
    later ones are registered as candidates for an admin to compare and activate, except the full
    grader that replaces a quick first one, which is activated as soon as it is trained.

    A `quick` job (`make run` on a fresh install starts one) trains on a sample of the seed data without
    the cross-encoder, in about a minute, activates it, grades the assignments named in its parameters
    and starts the full training; see `grader_quick_run`."""
    if job.params.get("quick"):
        return grader_quick_run(job=job)
    base_or_none, active_is_quick = _active_grader_state()
    is_first = base_or_none is None
    base = examples_read([SEED_DATA_DIR]) if is_first or active_is_quick else base_or_none or []
    reviewed = reviewed_examples()
    job_progress_set(job=job, progress=0, total=100, message=f"{len(base)} earlier answers, {len(reviewed)} reviewed")

    def progress(done: int, total: int) -> None:
        job_progress_set(job=job, progress=min(99, int(100 * done / max(total, 1))), total=100)

    examples = examples_merge(base, reviewed)
    if len(examples) < 10:
        raise ApplicationError("There is too little graded data to train on yet: review some grades first.")
    return grader_train_and_register(
        examples=examples,
        job_id=str(job.pk),
        user=job.created_by,
        progress=progress,
        fast=bool(job.params.get("fast")),
        activate=is_first or active_is_quick,
        activation_reason=(
            "The full grader replaces the quick first one." if active_is_quick else "The first grader of this install."
        ),
    )


def grader_quick_run(*, job: Job) -> dict[str, Any]:
    """A quick first grader: activated at once, then the waiting answers graded and the full grader started."""
    base, _ = _active_grader_state()
    result: dict[str, Any] = {"version": "", "activated": False}
    if base is None:  # a grader appeared meanwhile (an admin activated one): nothing quick is needed
        examples = examples_sample(examples_read([SEED_DATA_DIR]), per_question=QUICK_ANSWERS_PER_QUESTION)
        job_progress_set(
            job=job, progress=0, total=100, message=f"A quick first grader from {len(examples)} sample answers"
        )

        def progress(done: int, total: int) -> None:
            job_progress_set(job=job, progress=min(99, int(100 * done / max(total, 1))), total=100)

        result = grader_train_and_register(
            examples=examples,
            job_id=str(job.pk),
            user=job.created_by,
            progress=progress,
            config=GraderConfig.quick(),
            measure=False,
            quick=True,
            activate=True,
            activation_reason="A quick first grader, so the install can grade at once; the full one follows.",
        )
    # The waiting answers are graded first; the last of those jobs starts the full training.
    graded = []
    full_follows = False
    assignments = _assignments_for(job.params.get("grade_assignment_ids") or [])
    for position, assignment in enumerate(assignments):
        is_last = position == len(assignments) - 1
        teacher = assignment.created_by or job.created_by
        try:
            assignment_grading_start(assignment=assignment, user=teacher, then_train_full_grader=is_last)
        except ApplicationError:
            continue  # already being graded, or the user no longer teaches it
        graded.append(assignment.pk)
        full_follows = is_last
    if not full_follows:
        with contextlib.suppress(ApplicationError):  # a full training is already queued or running
            grader_training_start(user=job.created_by)
    result["grading_started_for"] = graded
    return result


def _assignments_for(ids: list[int]) -> list[Assignment]:
    return list(Assignment.objects.filter(pk__in=ids).select_related("created_by", "course"))
