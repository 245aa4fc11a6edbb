from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

TASK_CHOICES = [
    ("tutor", "Tutor replies"),
    ("feedback", "Grading feedback"),
    ("grader", "Grading labels and scores"),
    ("coaching", "Classroom coaching"),
    ("questions", "Reflection questions"),
    ("teacher", "Teacher model (data generation)"),
]


class ModelVersion(models.Model):
    """A model that may serve tasks: a local directory or an OpenAI-compatible endpoint."""

    class Kind(models.TextChoices):
        GENERATOR = "generator", "Generator (language model)"
        ENCODER = "encoder", "Encoder (embeddings)"
        GRADER = "grader", "Grader (labels and scores)"

    class Backend(models.TextChoices):
        LOCAL = "local", "Local (in this server)"
        OPENAI = "openai", "OpenAI-compatible server"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.SlugField(max_length=100, unique=True)
    base_model = models.CharField(max_length=200, help_text="What it was made from.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    backend = models.CharField(max_length=20, choices=Backend.choices, default=Backend.LOCAL)
    location = models.CharField(
        max_length=500,
        help_text="A directory (local), or a base URL such as http://gpu-host:8000/v1 (openai). "
        "'builtin:smollm2-135m-instruct' is the bundled default student.",
    )
    served_model_name = models.CharField(
        max_length=200, blank=True, help_text="The model name the endpoint expects (openai only)."
    )
    tasks = models.JSONField(default=list, help_text="Tasks this version may serve.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Figures from evaluations, by split.")
    made_by_job = models.CharField(max_length=100, blank=True, help_text="The job that made it, if any.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CANDIDATE)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ActiveModel(models.Model):
    """Which version serves each task: exactly one row per task."""

    task = models.CharField(max_length=20, choices=TASK_CHOICES, unique=True)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="active_for")
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField()
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["task"]

    def __str__(self) -> str:
        return f"{self.task}: {self.version}"


class ActivationRecord(models.Model):
    """The history of activations: who made which version serve a task, when and why."""

    task = models.CharField(max_length=20, choices=TASK_CHOICES)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="activations")
    previous_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    was_confirmed_despite_worse_metrics = models.BooleanField(default=False)

    class Meta:
        ordering = ["-activated_at"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="models_runtime_activation_has_reason")]

    def __str__(self) -> str:
        return f"{self.task} -> {self.version} at {self.activated_at:%Y-%m-%d %H:%M}"
