from __future__ import annotations

from django.db import models


class Problem(models.Model):
    """A math problem in a course's bank. Only assigned problems are open to students."""

    course = models.ForeignKey("accounts.Course", on_delete=models.CASCADE, related_name="problems")
    title = models.CharField(max_length=200)
    statement = models.TextField()
    worked_solution = models.TextField()
    final_answer = models.CharField(max_length=100)
    misconceptions = models.JSONField(default=list, blank=True)
    is_assigned = models.BooleanField(default=False)
    source = models.CharField(max_length=200, blank=True, help_text="Where the problem came from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "title"]
        constraints = [models.UniqueConstraint(fields=["course", "title"], name="tutor_problem_unique_title")]

    def __str__(self) -> str:
        return self.title
