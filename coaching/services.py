"""Writes of the coaching journey: upload a transcript, confirm its speakers, analyse it (a job), phrase.

Every write that takes user input is atomic: a bad file or a failed analysis leaves nothing half-stored.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import Role
from accounts.permissions import user_role
from coaching.analysis import POLICY_VERSION, LessonAnalysis, Moment, Turn, lesson_analyse
from coaching.models import CoachingReport, Transcript, Utterance
from coaching.parsing import ParsedTranscript, TranscriptFileError, speakers_check, transcript_parse
from coaching.uptake import uptake_model_load
from core.errors import ConflictError, NotFoundError
from core.models import Job
from core.services import JobCancelled, job_create, job_progress_set
from models_runtime import api as models

logger = logging.getLogger(__name__)

PROMPT_PATH = Path(__file__).resolve().parent / "prompts" / "suggestion.toml"
MAX_TITLE = 200

__all__ = [
    "coaching_analyse_turns",
    "parsed_to_turns",
    "suggestions_phrase",
    "transcript_analysis_run",
    "transcript_analysis_start",
    "transcript_speakers_confirm",
    "transcript_upload",
]


def _uptake_pairs(pairs: list[tuple[str, str]]) -> list[tuple[float, int]]:
    return uptake_model_load().predict([s for s, _t in pairs], [t for _s, t in pairs])


def parsed_to_turns(parsed: ParsedTranscript, *, teacher_speakers: list[str]) -> list[Turn]:
    chosen = set(speakers_check(speakers=parsed.speaker_names(), teacher_speakers=teacher_speakers))
    return [
        Turn(
            line=i,
            speaker=u.speaker,
            role="teacher" if u.speaker in chosen else "student",
            text=u.text,
            start=u.start,
            end=u.end,
        )
        for i, u in enumerate(parsed.utterances, start=1)
    ]


PROMPT_ECHO = re.compile(r"(coach'?s note|rewritten|what happened|note:|lesson text)", re.IGNORECASE)


def _meaning_kept(original: str, phrased: str) -> bool:
    """A small model may drift: keep its wording only when it keeps most of the advice's words."""
    wanted = {w for w in re.findall(r"[a-z']+", original.lower()) if len(w) > 4}
    found = set(re.findall(r"[a-z']+", phrased.lower()))
    return bool(wanted) and len(wanted & found) / len(wanted) >= 0.5


def _line_reference_kept(original: str, phrased: str) -> bool:
    lines = set(re.findall(r"\bline (\d+)", original))
    return bool(lines) and lines <= set(re.findall(r"\bline (\d+)", phrased))


def suggestions_phrase(suggestions: list[Moment]) -> dict[str, Any]:
    """Let the coaching model phrase each suggestion (one batch). A phrasing is kept only when it still names
    the line, quotes nobody and is of a sensible length; otherwise the template's wording stays.

    Returns the provenance of the phrasing (model version, prompt template), or {} when there was nothing to do.
    """
    if not suggestions:
        return {}
    template = models.prompt_load(PROMPT_PATH)
    conversations = [template.render(detail=s.detail, suggestion=s.text) for s in suggestions]
    # COACHING_MAX_NEW_TOKENS: the phrasing's budget (90 tokens; the test settings make it small, as for the tutor).
    budget = int(getattr(settings, "COACHING_MAX_NEW_TOKENS", 90))
    generations = models.chat_batch(
        task="coaching", conversations=conversations, template=template, max_new_tokens=budget
    )
    for suggestion, generation in zip(suggestions, generations, strict=True):
        phrased = " ".join(generation.text.split())
        if (
            30 <= len(phrased) <= 400
            and _line_reference_kept(suggestion.text, phrased)
            and not re.search('["“”]', phrased)
            and not PROMPT_ECHO.search(phrased)
            and _meaning_kept(suggestion.text, phrased)
            and generation.finish_reason != "length"
        ):
            suggestion.text = phrased
            suggestion.phrased_by = generation.model_version
    return generations[0].provenance if generations else {}


def coaching_analyse_turns(turns: list[Turn], *, phrase: bool = False) -> tuple[LessonAnalysis, dict[str, Any]]:
    """Analyse a lesson's turns; the provenance says which models, prompt and policy made the result."""
    uptake_model = uptake_model_load()
    analysis = lesson_analyse(turns, uptake=_uptake_pairs)
    provenance: dict[str, Any] = {
        "policy_version": POLICY_VERSION,
        "uptake_model_version": uptake_model.version,
        "embedding_model": models.EMBEDDING_MODEL_NAME,
        "phrasing": "template",
    }
    if phrase:
        phrasing = suggestions_phrase(analysis.suggestions)
        if phrasing:
            provenance.update(phrasing)
            provenance["phrasing"] = "model"
    return analysis, provenance


@transaction.atomic
def transcript_upload(
    *, teacher: Any, data: bytes, filename: str, title: str = "", lesson_date: datetime.date | None = None
) -> Transcript:
    """Store a transcript after reading the whole file; its speakers await the teacher's confirmation.

    Raises TranscriptFileError (a 400, nothing stored) when the file cannot be read.
    """
    parsed = transcript_parse(data, filename=filename or "transcript.txt")
    title = (title or "").strip() or Path(filename or "Lesson").stem.replace("_", " ")[:MAX_TITLE] or "Lesson"
    if len(title) > MAX_TITLE:
        raise TranscriptFileError(f"The title is {len(title)} characters long; the limit is {MAX_TITLE}.")
    transcript = Transcript(
        teacher=teacher,
        title=title,
        filename=(filename or "")[:255],
        source_format=parsed.format,
        speakers=[asdict(s) for s in parsed.speakers],
        teacher_speakers=parsed.guessed_teachers(),
        has_times=parsed.has_times,
    )
    if lesson_date is not None:
        transcript.lesson_date = lesson_date
    transcript.full_clean()
    transcript.save()
    Utterance.objects.bulk_create(
        Utterance(transcript=transcript, line=i, speaker=u.speaker, text=u.text, start=u.start, end=u.end)
        for i, u in enumerate(parsed.utterances, start=1)
    )
    return transcript


def _check_owner(*, transcript: Transcript, user: Any) -> None:
    if transcript.teacher_id != user.pk and user_role(user) != Role.ADMIN:
        raise NotFoundError("No such transcript.")


def transcript_speakers_confirm(
    *, transcript: Transcript, user: Any, teacher_speakers: list[str], phrase: bool = True
) -> Job:
    """Record who the teacher is (the other speakers are students) and start the analysis job.

    Raises TranscriptFileError naming unknown speakers, ConflictError while an analysis runs.
    """
    _check_owner(transcript=transcript, user=user)
    names = [s["name"] for s in transcript.speakers]
    chosen = speakers_check(speakers=names, teacher_speakers=teacher_speakers)
    with transaction.atomic():
        locked = Transcript.objects.select_for_update().get(pk=transcript.pk)
        if locked.is_busy:
            raise ConflictError("This transcript is already being analysed; wait for the report.")
        teacher_set = set(chosen)
        Utterance.objects.filter(transcript=locked, speaker__in=teacher_set).update(role=Utterance.Role.TEACHER)
        Utterance.objects.filter(transcript=locked).exclude(speaker__in=teacher_set).update(role=Utterance.Role.STUDENT)
        locked.teacher_speakers = chosen
        job = transcript_analysis_start(transcript=locked, user=user, phrase=phrase)
        locked.status = Transcript.Status.QUEUED
        locked.job = job
        locked.error = ""
        locked.save(update_fields=["teacher_speakers", "status", "job", "error", "updated_at"])
    transcript.refresh_from_db()
    return job


def transcript_analysis_start(*, transcript: Transcript, user: Any, phrase: bool = True) -> Job:
    from coaching.tasks import transcript_analyse_task

    return job_create(
        kind="coaching.transcript",
        title=f"Analyse “{transcript.title}”",
        task=transcript_analyse_task,
        created_by=user,
        params={"transcript_id": transcript.pk, "phrase": phrase},
        unique_key=f"coaching.transcript.{transcript.pk}",
    )


def _turns_of(transcript: Transcript) -> list[Turn]:
    return [
        Turn(
            line=u.line, speaker=u.speaker, role=u.role or Utterance.Role.STUDENT, text=u.text, start=u.start, end=u.end
        )
        for u in transcript.utterances.order_by("line")
    ]


UTTERANCE_FIELDS = ["move", "question", "question_style", "uptake", "uptake_score", "student_talk", "wait_seconds"]


@transaction.atomic
def report_store(*, transcript: Transcript, analysis: LessonAnalysis, provenance: dict[str, Any]) -> CoachingReport:
    """Write every turn's analysis and the report in one transaction."""
    by_line = {a.line: a for a in analysis.utterances}
    utterances = list(transcript.utterances.all())
    for utterance in utterances:
        found = by_line[utterance.line]
        for name in UTTERANCE_FIELDS:
            setattr(utterance, name, getattr(found, name))
    Utterance.objects.bulk_update(utterances, UTTERANCE_FIELDS, batch_size=500)
    metrics = analysis.metrics
    report, _created = CoachingReport.objects.update_or_create(
        transcript=transcript,
        defaults={
            "segments": [asdict(s) for s in analysis.segments],
            "highlights": [asdict(m) for m in analysis.highlights],
            "missed_opportunities": [asdict(m) for m in analysis.missed_opportunities],
            "suggestions": [asdict(m) for m in analysis.suggestions],
            "metrics": metrics,
            "student_talk_share": analysis.student_talk_share,
            "mean_uptake": metrics["mean_uptake"],
            "open_question_share": metrics["open_question_share"],
            "pressing_reasoning_rate": metrics["pressing_reasoning_per_100_teacher_turns"],
            "provenance": provenance,
        },
    )
    Transcript.objects.filter(pk=transcript.pk).update(status=Transcript.Status.READY, error="")
    return report


def transcript_analysis_run(*, job: Job) -> dict[str, Any]:
    """The job's work: analyse the turns, phrase the suggestions, store it all at once."""
    transcript = Transcript.objects.get(pk=job.params["transcript_id"])
    Transcript.objects.filter(pk=transcript.pk).update(status=Transcript.Status.ANALYSING)
    try:
        job_progress_set(job=job, progress=0, total=4, message="Reading the transcript")
        turns = _turns_of(transcript)
        job_progress_set(job=job, progress=1, message=f"Analysing {len(turns)} turns (talk moves, questions, uptake)")
        uptake_model = uptake_model_load()
        analysis = lesson_analyse(turns, uptake=_uptake_pairs)
        provenance: dict[str, Any] = {
            "policy_version": POLICY_VERSION,
            "uptake_model_version": uptake_model.version,
            "embedding_model": models.EMBEDDING_MODEL_NAME,
            "phrasing": "template",
        }
        job_progress_set(job=job, progress=2, message=f"Phrasing {len(analysis.suggestions)} suggestions")
        if job.params.get("phrase", True):
            try:
                phrasing = suggestions_phrase(analysis.suggestions)
            except models.ModelError as error:
                # The template wording is a complete suggestion; a model that cannot run costs only the phrasing.
                logger.warning("coaching: suggestions kept their template wording: %s", error)
                provenance["phrasing_error"] = error.message if hasattr(error, "message") else str(error)
            else:
                if phrasing:
                    provenance.update(phrasing)
                    provenance["phrasing"] = "model"
        job_progress_set(job=job, progress=3, message="Saving the report")
        report = report_store(transcript=transcript, analysis=analysis, provenance=provenance)
    except JobCancelled:
        # Back to where it was: the previous report (if any) stays and the teacher can start again.
        previous = Transcript.Status.READY if CoachingReport.objects.filter(transcript=transcript).exists() else None
        Transcript.objects.filter(pk=transcript.pk).update(
            status=previous or Transcript.Status.AWAITING_SPEAKERS, error=""
        )
        raise
    except Exception as error:
        Transcript.objects.filter(pk=transcript.pk).update(status=Transcript.Status.FAILED, error=str(error)[:2000])
        raise
    return {
        "transcript": transcript.title,
        "turns": len(turns),
        "highlights": len(report.highlights),
        "suggestions": len(report.suggestions),
        "report_url": f"/coaching/transcripts/{transcript.pk}/",
    }


def transcript_delete(*, transcript: Transcript, user: Any) -> None:
    _check_owner(transcript=transcript, user=user)
    if transcript.is_busy:
        raise ConflictError("This transcript is being analysed; delete it when the report is ready.")
    transcript.delete()


DEMO_TITLE = "Fractions: improper fractions and wholes (NCTE demo lesson)"


def demo_transcript_seed(*, teacher: Any, exchanges: list[dict[str, str]], lesson_date: datetime.date) -> Transcript:
    """The demo teacher's lesson, built from one observation's exchanges in order, with its report made at once
    (no job, no phrasing model: seeding stays fast). Idempotent: an existing demo transcript is kept."""
    existing = Transcript.objects.filter(teacher=teacher, is_demo=True).first()
    if existing is not None and existing.status == Transcript.Status.READY:
        return existing
    lines = []
    for exchange in exchanges:
        lines.append(f"Student: {' '.join(exchange['student_text'].split())}")
        lines.append(f"Teacher: {' '.join(exchange['teacher_text'].split())}")
    with transaction.atomic():
        if existing is not None:
            existing.delete()
        transcript = transcript_upload(
            teacher=teacher,
            data="\n".join(lines).encode("utf-8"),
            filename="ncte-4426.txt",
            title=DEMO_TITLE,
            lesson_date=lesson_date,
        )
        Transcript.objects.filter(pk=transcript.pk).update(is_demo=True, teacher_speakers=["Teacher"])
        Utterance.objects.filter(transcript=transcript, speaker="Teacher").update(role=Utterance.Role.TEACHER)
        Utterance.objects.filter(transcript=transcript).exclude(speaker="Teacher").update(role=Utterance.Role.STUDENT)
        transcript.refresh_from_db()
        analysis, provenance = coaching_analyse_turns(_turns_of(transcript), phrase=False)
        report_store(transcript=transcript, analysis=analysis, provenance=provenance)
    transcript.refresh_from_db()
    return transcript
