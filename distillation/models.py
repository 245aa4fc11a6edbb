"""A distillation run (ARTE) and its steps. Artifacts live in the registries (data sets, model versions) and in
the run's working directory; these rows hold the state, the figures, the configuration and the seed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

STEP_NAMES = ("draft", "prefer", "align", "generate", "distill", "evaluate")
STEP_LABELS = {
    "draft": "Draft (teacher writes K candidates per seed item)",
    "prefer": "Student preference (in-context log-likelihood gain)",
    "align": "Align the teacher (DPO + LoRA, or best of K)",
    "generate": "Generate the tailored set (registered data set)",
    "distill": "Distill (SFT of the student)",
    "evaluate": "Evaluate on held-out answers; register the candidate",
}


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)


class DistillationRun(models.Model):
    class Task(models.TextChoices):
        FEEDBACK = "feedback", "Grading feedback"
        TUTOR = "tutor", "Tutor turns"

    task = models.CharField(max_length=20, choices=Task.choices)
    config_name = models.CharField(max_length=20)
    config = models.JSONField(default=dict, help_text="The whole configuration, so the run can be repeated exactly.")
    seed = models.IntegerField(default=0)
    dataset_slug = models.CharField(max_length=120)
    dataset_version_id = models.BigIntegerField(help_text="The registered data set version the seed items came from.")
    dataset_version_number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    message = models.CharField(max_length=500, blank=True)
    is_cancel_requested = models.BooleanField(default=False)
    teacher = models.CharField(max_length=200, blank=True, help_text="The teacher backend and version.")
    student_base = models.CharField(max_length=200, blank=True)
    candidate_version = models.CharField(max_length=100, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "dataset_version_id"],
                condition=Q(status__in=["queued", "running"]),
                name="distillation_one_active_run_per_data",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.task}, {self.config_name}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class RunStep(models.Model):
    run = models.ForeignKey(DistillationRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=20)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    log = models.TextField(blank=True)
    figures = models.JSONField(default=dict, blank=True)
    artifacts = models.JSONField(default=dict, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="distillation_step_unique_name")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.name} ({self.status})"

    @property
    def label(self) -> str:
        return STEP_LABELS.get(self.name, self.name)

    @property
    def percent(self) -> int:
        if self.status == Status.SUCCEEDED:
            return 100
        return min(100, round(100 * self.progress / self.total)) if self.total else 0
