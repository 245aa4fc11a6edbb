"""Reflection questions: the dialogue that wrote each one, the course's question bank, assignments
and students' answers. A dialogue and its rounds are kept whole (with provenance) as training data:
the teacher's edited final question is the preferred text, the first draft the rejected one."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Dialogue(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Writing"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    class StopReason(models.TextChoices):
        NONE = "", "Not stopped"
        SIGNAL = "signal", "The Teacher-Educator said “Great question!”"
        LIMIT = "limit", "The round limit"

    class FinalSource(models.TextChoices):
        NONE = "", "None"
        MODEL = "model", "Written by the Student-Teacher"
        REPAIR = "repair", "Repaired in code (the model's drafts failed the checks)"

    course = models.ForeignKey("accounts.Course", on_delete=models.CASCADE, related_name="reflection_dialogues")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reflection_dialogues"
    )
    topic = models.CharField(max_length=300)
    concepts = models.JSONField(default=list)
    level = models.CharField(max_length=80)
    materials = models.TextField(blank=True)
    materials_name = models.CharField(max_length=200, blank=True)
    max_rounds = models.PositiveSmallIntegerField(default=4)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    stop_reason = models.CharField(max_length=10, choices=StopReason.choices, default=StopReason.NONE, blank=True)
    final_question = models.TextField(blank=True)
    final_source = models.CharField(max_length=10, choices=FinalSource.choices, default=FinalSource.NONE, blank=True)
    final_checks = models.JSONField(default=list, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_rounds__gte=1) & Q(max_rounds__lte=8), name="reflection_dialogue_rounds_1_to_8"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.FINISHED, self.Status.FAILED)

    @property
    def final_passes_checks(self) -> bool:
        return bool(self.final_checks) and all(check["passed"] for check in self.final_checks)


class Round(models.Model):
    """One turn of the dialogue: the Student-Teacher's draft, the checks' results, and the coaching
    (the Teacher-Educator's question, or the failed check's reason when the draft did not pass)."""

    class DraftSource(models.TextChoices):
        MODEL = "model", "The Student-Teacher"
        MODEL_FAILED = "model_failed", "The model wrote no valid draft"

    class CoachingSource(models.TextChoices):
        EDUCATOR = "educator", "The Teacher-Educator"
        CHECKS = "checks", "The checks in code"
        CODE = "code", "Written in code (the Teacher-Educator's reply was not a question)"
        NONE = "", "None"

    dialogue = models.ForeignKey(Dialogue, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    draft = models.TextField(blank=True)
    rationale = models.TextField(blank=True)
    draft_source = models.CharField(max_length=20, choices=DraftSource.choices, default=DraftSource.MODEL)
    checks = models.JSONField(default=list)
    coaching = models.TextField(blank=True)
    coaching_source = models.CharField(max_length=10, choices=CoachingSource.choices, blank=True)
    is_stop_signal = models.BooleanField(default=False)
    provenance = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dialogue", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dialogue", "number"], name="reflection_round_unique_number"),
        ]

    def __str__(self) -> str:
        return f"Round {self.number} of dialogue {self.dialogue_id}"

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check["passed"] for check in self.checks)


class BankQuestion(models.Model):
    """A question the teacher saved to the course's bank: the edited text, the generated one, a rating."""

    course = models.ForeignKey("accounts.Course", on_delete=models.CASCADE, related_name="reflection_questions")
    dialogue = models.OneToOneField(
        Dialogue, null=True, blank=True, on_delete=models.SET_NULL, related_name="bank_question"
    )
    text = models.TextField()
    generated_text = models.TextField(blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    checks = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | (Q(rating__gte=1) & Q(rating__lte=5)),
                name="reflection_bank_rating_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def is_edited(self) -> bool:
        return bool(self.generated_text) and self.text.strip() != self.generated_text.strip()


class QuestionAssignment(models.Model):
    question = models.ForeignKey(BankQuestion, on_delete=models.CASCADE, related_name="assignments")
    course = models.ForeignKey("accounts.Course", on_delete=models.CASCADE, related_name="reflection_assignments")
    due_at = models.DateTimeField()
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The last hand-over of the answers to the grading review queue (core.review_queue): the receiver's
    # assignment and question ids, how many answers, the review page, when and by whom; {} before any.
    review_handoff = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["question", "course"], name="reflection_assignment_once_per_course"),
        ]

    def __str__(self) -> str:
        return f"{self.question} (due {self.due_at:%Y-%m-%d})"


class Answer(models.Model):
    assignment = models.ForeignKey(QuestionAssignment, on_delete=models.CASCADE, related_name="answers")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reflection_answers")
    text = models.TextField()
    submitted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["submitted_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "student"], name="reflection_answer_once_per_student"),
        ]

    def __str__(self) -> str:
        return f"{self.student} on {self.assignment_id}"
