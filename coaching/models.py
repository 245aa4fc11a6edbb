"""Transcripts of lessons, their turns (with each turn's analysis) and the coaching report."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Transcript(models.Model):
    """One lesson's transcript, uploaded by the teacher who taught it. Private to them and admins."""

    class Status(models.TextChoices):
        AWAITING_SPEAKERS = "awaiting_speakers", "Confirm the speakers"
        QUEUED = "queued", "Queued"
        ANALYSING = "analysing", "Analysing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        TEXT = "text", "Text (Speaker: text)"
        VTT = "vtt", "WebVTT"
        SRT = "srt", "SRT"
        JSON = "json", "JSON"

    teacher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coaching_transcripts")
    title = models.CharField(max_length=200)
    lesson_date = models.DateField(default=timezone.localdate)
    filename = models.CharField(max_length=255, blank=True)
    source_format = models.CharField(max_length=10, choices=Format.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AWAITING_SPEAKERS)
    speakers = models.JSONField(default=list, help_text="[{name, turns, words, guessed_role}] in order of words")
    teacher_speakers = models.JSONField(default=list, blank=True)
    has_times = models.BooleanField(default=False)
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-lesson_date", "-created_at"]
        indexes = [models.Index(fields=["teacher", "lesson_date"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_busy(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.ANALYSING)


class Utterance(models.Model):
    """One turn of a transcript (`line` counts from 1) and what the analysis found in it."""

    class Role(models.TextChoices):
        TEACHER = "teacher", "Teacher"
        STUDENT = "student", "Student"

    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="utterances")
    line = models.PositiveIntegerField()
    speaker = models.CharField(max_length=60)
    role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    text = models.TextField()
    start = models.FloatField(null=True, blank=True, help_text="seconds from the start of the recording")
    end = models.FloatField(null=True, blank=True)
    move = models.CharField(max_length=30, blank=True)
    question = models.CharField(max_length=10, blank=True, help_text="open, closed or empty")
    question_style = models.CharField(max_length=12, blank=True, help_text="focusing, funnelling or empty")
    uptake = models.PositiveSmallIntegerField(null=True, blank=True)
    uptake_score = models.FloatField(null=True, blank=True)
    student_talk = models.CharField(max_length=15, blank=True, help_text="reasoning, short_answer or empty")
    wait_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["transcript", "line"]
        constraints = [
            models.UniqueConstraint(fields=["transcript", "line"], name="coaching_utterance_unique_line"),
            models.CheckConstraint(condition=Q(uptake__isnull=True) | Q(uptake__lte=2), name="coaching_uptake_0_to_2"),
        ]

    def __str__(self) -> str:
        return f"{self.line}. {self.speaker}: {self.text[:40]}"


class CoachingReport(models.Model):
    """What a coach would say about one transcript, with the provenance of everything a model made."""

    transcript = models.OneToOneField(Transcript, on_delete=models.CASCADE, related_name="report")
    segments = models.JSONField(default=list)
    highlights = models.JSONField(default=list)
    missed_opportunities = models.JSONField(default=list)
    suggestions = models.JSONField(default=list)
    metrics = models.JSONField(default=dict)
    student_talk_share = models.FloatField()
    mean_uptake = models.FloatField(null=True, blank=True)
    open_question_share = models.FloatField(null=True, blank=True)
    pressing_reasoning_rate = models.FloatField(null=True, blank=True, help_text="per 100 teacher turns")
    provenance = models.JSONField(default=dict, help_text="uptake model, phrasing model, prompt template, policy")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Report on {self.transcript}"
