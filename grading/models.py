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
