from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Assignment(models.Model):
    """A set of short-answer questions in a course."""

    course = models.ForeignKey("accounts.Course", on_delete=models.CASCADE, related_name="assignments")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "title"]
        constraints = [models.UniqueConstraint(fields=["course", "title"], name="grading_assignment_unique_title")]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=1)
    text = models.TextField()
    reference_answers = models.JSONField(default=list, help_text="One or more model answers.")
    rubric = models.JSONField(
        default=list, blank=True, help_text='Optional items: [{"text": "...", "points": 1.0}, ...]'
    )
    max_points = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    is_reference_hidden = models.BooleanField(
        default=True, help_text="Hide the reference answers from students until grades are released."
    )
    source = models.CharField(max_length=200, blank=True, help_text="Where the question came from.")

    class Meta:
        ordering = ["assignment", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(max_points__gt=0), name="grading_question_max_points_positive")
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Submission(models.Model):
    """A student's answer. A new answer to the same question keeps the earlier ones, not current."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="submissions")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    answer_text = models.TextField()
    submitted_at = models.DateTimeField(auto_now_add=True)
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["question", "student", "-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "student"],
                condition=Q(is_current=True),
                name="grading_submission_one_current_per_student",
            )
        ]

    def __str__(self) -> str:
        return f"{self.student} on {self.question}"


class Label(models.TextChoices):
    CORRECT = "correct", "Correct"
    PARTIALLY_CORRECT = "partially_correct", "Partially correct"
    INCORRECT = "incorrect", "Incorrect"


class Grade(models.Model):
    """The grade of one submission: what the model said, what the teacher decided, and when students see it."""

    class Status(models.TextChoices):
        AWAITING_REVIEW = "awaiting_review", "Awaiting review"
        APPROVED = "approved", "Approved"
        OVERRIDDEN = "overridden", "Overridden"
        RELEASED = "released", "Released"

    REVIEWED_STATUSES = (Status.APPROVED, Status.OVERRIDDEN, Status.RELEASED)

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="grade")
    label = models.CharField(max_length=20, choices=Label.choices)
    score = models.DecimalField(max_digits=6, decimal_places=2)
    feedback = models.TextField(blank=True)
    rubric_met = models.JSONField(default=list, blank=True)
    rubric_missed = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(default=0.0)
    # The machine's own verdict, kept when a teacher overrides it: the agreement chart and retraining use it.
    model_label = models.CharField(max_length=20, choices=Label.choices)
    model_score = models.DecimalField(max_digits=6, decimal_places=2)
    model_feedback = models.TextField(blank=True)
    provenance = models.JSONField(default=dict, blank=True, help_text="Model and prompt versions that made it.")
    # When the student first opened their grades after the release: the dashboard's notice counts the rest.
    seen_by_student_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AWAITING_REVIEW)
    was_overridden = models.BooleanField(default=False)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["confidence", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0), name="grading_grade_score_not_negative"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="grading_grade_confidence_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_label_display()} ({self.score}) for {self.submission}"

    @property
    def is_released(self) -> bool:
        return self.status == self.Status.RELEASED

    @property
    def is_reviewed(self) -> bool:
        return self.status in self.REVIEWED_STATUSES


class GradeChange(models.Model):
    """Every change to a grade, by the machine or a teacher. Teacher changes become training data."""

    class Action(models.TextChoices):
        MACHINE_GRADED = "machine_graded", "Graded by the model"
        ACCEPTED = "accepted", "Accepted"
        OVERRIDDEN = "overridden", "Overridden"
        FEEDBACK_EDITED = "feedback_edited", "Feedback edited"
        RELEASED = "released", "Released"

    grade = models.ForeignKey(Grade, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=20, choices=Action.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["changed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.changed_at:%Y-%m-%d %H:%M}"
