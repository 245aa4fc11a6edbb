from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


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


class TutorSettings(models.Model):
    """How the tutor behaves in one course. A course without a row uses the defaults."""

    DEFAULT_ATTEMPTS_BEFORE_TELLING = 3

    course = models.OneToOneField("accounts.Course", on_delete=models.CASCADE, related_name="tutor_settings")
    attempts_before_telling = models.PositiveSmallIntegerField(
        default=DEFAULT_ATTEMPTS_BEFORE_TELLING,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Real attempts a student makes before the tutor may tell a step of the solution.",
    )
    # Off (the default): the tutor never gives a step away and never states the final answer. On: after
    # `attempts_before_telling` real attempts it may give a step's calculation or tell the step, the last
    # step's calculation only after twice that; the final answer is never stated either way.
    allows_step_hints = models.BooleanField(
        default=False,
        help_text="Give step hints after the attempts (the last step's calculation after twice as many).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "tutor settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(attempts_before_telling__gte=1, attempts_before_telling__lte=20),
                name="tutor_settings_attempts_range",
            )
        ]

    def __str__(self) -> str:
        return f"Tutor settings of {self.course}"


class TutorSession(models.Model):
    """One student working on one problem with the tutor."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SOLVED = "solved", "Solved"
        SOLVED_AFTER_REVEAL = "solved_after_reveal", "Solved after the answer was revealed"
        ABANDONED = "abandoned", "Abandoned"

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tutor_sessions")
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="sessions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Real attempts at the answer so far.")
    is_answer_revealed = models.BooleanField(default=False, help_text="The tutor stated the final answer.")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # Resuming is the rule: a student has at most one open session per problem.
            models.UniqueConstraint(
                fields=["student", "problem"], condition=Q(status="open"), name="tutor_session_one_open_per_problem"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "solved", "solved_after_reveal", "abandoned"]),
                name="tutor_session_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} on {self.problem}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_solved(self) -> bool:
        return self.status in (self.Status.SOLVED, self.Status.SOLVED_AFTER_REVEAL)


class Turn(models.Model):
    """One message of a session. A tutor turn is created `pending` with the student's message, so that
    exactly one generation ever writes it (the unique `reply_to`), however often the page reconnects."""

    class Speaker(models.TextChoices):
        STUDENT = "student", "Student"
        TUTOR = "tutor", "Tutor"

    class Move(models.TextChoices):
        FOCUS = "focus", "Focus"
        PROBING = "probing", "Probing"
        TELLING = "telling", "Telling"
        GENERIC = "generic", "Generic"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be written"
        GENERATING = "generating", "Being written"
        COMPLETE = "complete", "Complete"

    session = models.ForeignKey(TutorSession, on_delete=models.CASCADE, related_name="turns")
    speaker = models.CharField(max_length=10, choices=Speaker.choices)
    text = models.TextField(blank=True)
    move = models.CharField(max_length=10, choices=Move.choices, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    reply_to = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="reply", editable=False
    )
    planned_text = models.TextField(blank=True, help_text="The reply the policy wrote in code (the fallback).")
    provenance = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    is_flagged = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=40, blank=True)
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="flagged_turns"
    )
    flagged_at = models.DateTimeField(null=True, blank=True)
    better_reply = models.TextField(blank=True, help_text="The reply a teacher would have given instead.")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["session", "created_at"], name="tutor_turn_session_created")]
        constraints = [
            # One reply in flight per session: a second message waits for the first reply.
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(status__in=["pending", "generating"]),
                name="tutor_turn_one_in_flight_per_session",
            ),
            models.CheckConstraint(
                condition=Q(speaker="student", move="", status="complete")
                | Q(speaker="tutor", move__in=["focus", "probing", "telling", "generic"]),
                name="tutor_turn_move_matches_speaker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:40]}"

    @property
    def is_complete(self) -> bool:
        return self.status == self.Status.COMPLETE
