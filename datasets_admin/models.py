"""Lectures, their passages and students' comments (the SIGHT design), the comment classifier's
versions, and the registry of every data set the product holds or produces."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# SIGHT's ten feedback categories (Wang et al., BEA 2023), in the paper's order.
CATEGORIES = (
    "general",
    "setup",
    "pedagogy",
    "confusion",
    "gratitude",
    "personal_experience",
    "clarification",
    "bookmark",
    "non_english",
    "na",
)
CATEGORY_LABELS = {
    "general": "General",
    "setup": "Setup",
    "pedagogy": "Pedagogy",
    "confusion": "Confusion",
    "gratitude": "Gratitude",
    "personal_experience": "Personal experience",
    "clarification": "Clarification",
    "bookmark": "Bookmark",
    "non_english": "Non-English",
    "na": "Not applicable",
}
# The comments that say where students struggled; these are linked to a passage.
CONFUSED_CATEGORIES = ("confusion", "clarification")


class LectureCourse(models.Model):
    """A course whose lectures were uploaded (an OCW playlist, say); not an enrolment course."""

    code = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "code"]

    def __str__(self) -> str:
        return self.title


class Lecture(models.Model):
    course = models.ForeignKey(LectureCourse, on_delete=models.CASCADE, related_name="lectures")
    video_id = models.CharField(max_length=100, unique=True, help_text="The video's id (YouTube's for SIGHT).")
    title = models.CharField(max_length=300)
    url = models.URLField(max_length=500, blank=True)
    recorded_on = models.DateField(null=True, blank=True)
    transcript = models.TextField()
    is_timed = models.BooleanField(default=False, help_text="Its passages carry times (WebVTT, SRT).")
    duration_seconds = models.FloatField(null=True, blank=True)
    source_name = models.CharField(max_length=300, help_text="The uploaded file it came from.")
    metadata = models.JSONField(default=dict, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course__title", "title", "pk"]

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    """A stretch of a transcript (about a minute of speech) that comments are linked to."""

    lecture = models.ForeignKey(Lecture, on_delete=models.CASCADE, related_name="passages")
    position = models.PositiveIntegerField()
    text = models.TextField()
    start_seconds = models.FloatField(null=True, blank=True)
    end_seconds = models.FloatField(null=True, blank=True)
    embedding = models.BinaryField(blank=True, default=b"", help_text="float32 MiniLM vector, normalised.")

    class Meta:
        ordering = ["lecture", "position"]
        constraints = [
            models.UniqueConstraint(fields=["lecture", "position"], name="datasets_passage_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.lecture} §{self.position + 1}"


class Comment(models.Model):
    class LinkMethod(models.TextChoices):
        NONE = "", "Not linked"
        TIME = "time", "Time named in the comment"
        SIMILARITY = "similarity", "Closest passage in meaning"

    lecture = models.ForeignKey(Lecture, on_delete=models.CASCADE, related_name="comments")
    external_id = models.CharField(max_length=100, blank=True, help_text="The source's comment id, if any.")
    text = models.TextField()
    source_name = models.CharField(max_length=300)
    embedding = models.BinaryField(blank=True, default=b"")
    # The labels shown: the classifier's, with admins' corrections applied on top.
    categories = models.JSONField(default=list, blank=True)
    scores = models.JSONField(default=dict, blank=True, help_text="The classifier's probability per category.")
    provenance = models.JSONField(default=dict, blank=True, help_text="Which classifier version labelled it.")
    passage = models.ForeignKey(Passage, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments")
    link_method = models.CharField(max_length=20, choices=LinkMethod.choices, blank=True, default="")
    link_score = models.FloatField(null=True, blank=True)
    mentioned_seconds = models.FloatField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lecture", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["lecture", "external_id"],
                condition=~Q(external_id=""),
                name="datasets_comment_unique_external_id",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class CommentCorrection(models.Model):
    """An admin's one-click correction of one label; the classifier learns from these."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="corrections")
    category = models.CharField(max_length=40, choices=[(c, CATEGORY_LABELS[c]) for c in CATEGORIES])
    is_present = models.BooleanField()
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    corrected_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comment", "category"], name="datasets_correction_one_per_label"),
        ]

    def __str__(self) -> str:
        return f"{self.category}={'yes' if self.is_present else 'no'} on comment {self.comment_id}"


class ClassifierVersion(models.Model):
    """A trained comment classifier: its parameters (plain JSON) and its held-out agreement with people."""

    version = models.CharField(max_length=60, unique=True)
    parameters = models.JSONField()
    metrics = models.JSONField(default=dict)
    training_size = models.PositiveIntegerField(default=0)
    corrections_used = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    job_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="datasets_one_active"),
        ]

    def __str__(self) -> str:
        return self.version


class Dataset(models.Model):
    class Kind(models.TextChoices):
        TRANSCRIPTS = "transcripts", "Lecture transcripts"
        COMMENTS = "comments", "Student comments"
        GRADED_ANSWERS = "graded_answers", "Graded answers with teachers' corrections"
        TUTORING_SESSIONS = "tutoring_sessions", "Tutoring sessions with flagged turns"
        COACHING_TRANSCRIPTS = "coaching_transcripts", "Coaching transcripts"
        REFLECTION_DIALOGUES = "reflection_dialogues", "Reflection-question dialogues"
        TRAINING_SET = "training_set", "Generated training set"
        EVALUATION_SET = "evaluation_set", "Evaluation set"
        OTHER = "other", "Other"

    slug = models.SlugField(max_length=120, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    description = models.TextField(blank=True)
    owner_app = models.CharField(max_length=60, help_text="The app that registers it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """One registered state of a data set. Once a job has used it, it never changes again."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=500)
    license = models.CharField(max_length=200)
    row_count = models.PositiveIntegerField(default=0)
    schema = models.JSONField(default=list, help_text='Columns in order: [{"name": ..., "type": "string|null"}].')
    preview = models.JSONField(default=list, help_text="The first rows.")
    content_hash = models.CharField(max_length=64)
    is_locked = models.BooleanField(default=False)
    locked_by_job = models.CharField(max_length=64, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="datasets_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.slug} v{self.number}"


class DatasetRow(models.Model):
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()
    data = models.JSONField()

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="datasets_row_unique_position"),
        ]

    def __str__(self) -> str:
        return f"row {self.position} of version {self.version_id}"
