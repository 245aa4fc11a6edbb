"""Writes for reflection questions: start and run a dialogue, save to the question bank, assign,
answer. Each write checks who asks (the course's teacher, an admin, an enrolled student)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Course, Role
from accounts.permissions import course_is_taught_by, user_role
from coaching.reflection.checks import checks_as_data, question_checks
from coaching.reflection.dialogue import DialogueOutcome, QuestionSpec, RoundOutcome, dialogue_generate
from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment, Round
from core.errors import ApplicationError, PermissionDeniedError
from core.models import Job
from core.review_queue import ReviewAnswer, ReviewRequest, review_queue_send
from core.services import JobCancelled, job_create, job_progress_set
from models_runtime import api as models

MAX_QUESTION_CHARS = 1_000
MAX_ANSWER_CHARS = 5_000


def _check_teaching(*, course: Course, user: Any) -> None:
    if not course_is_taught_by(course=course, user=user):
        raise PermissionDeniedError("Only the course's teachers can do this.")


def _clean_and_save(instance: Any, *, update_fields: list[str] | None = None) -> None:
    try:
        instance.full_clean()
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    instance.save(update_fields=update_fields)


@transaction.atomic
def dialogue_start(*, user: Any, course: Course, spec: QuestionSpec, materials_name: str = "") -> Dialogue:
    """Store the form and queue the dialogue on the models queue (the job runs after commit)."""
    from coaching.reflection.tasks import question_generate_task

    _check_teaching(course=course, user=user)
    dialogue = Dialogue(
        course=course,
        created_by=user,
        topic=spec.topic,
        concepts=list(spec.concepts),
        level=spec.level,
        materials=spec.materials,
        materials_name=materials_name[:200],
        max_rounds=spec.max_rounds,
    )
    _clean_and_save(dialogue)
    job = job_create(
        kind="reflection.generate",
        title=f"Write a reflection question on “{spec.topic[:80]}”",
        task=question_generate_task,
        created_by=user,
        params={"dialogue_id": dialogue.pk},
        unique_key=f"reflection.dialogue.{dialogue.pk}",
    )
    dialogue.job = job
    dialogue.save(update_fields=["job"])
    return dialogue


def dialogue_spec(*, dialogue: Dialogue) -> QuestionSpec:
    return QuestionSpec(
        topic=dialogue.topic,
        concepts=tuple(dialogue.concepts),
        level=dialogue.level,
        materials=dialogue.materials,
        max_rounds=dialogue.max_rounds,
    )


def round_store(*, dialogue: Dialogue, outcome: RoundOutcome) -> Round:
    """Store one finished round (whole or not at all)."""
    return Round.objects.create(
        dialogue=dialogue,
        number=outcome.number,
        draft=outcome.draft,
        rationale=outcome.rationale,
        draft_source=outcome.draft_source,
        checks=outcome.checks,
        coaching=outcome.coaching,
        coaching_source=outcome.coaching_source,
        is_stop_signal=outcome.is_stop_signal,
        provenance=outcome.provenance,
    )


@transaction.atomic
def dialogue_finish(*, dialogue: Dialogue, outcome: DialogueOutcome) -> Dialogue:
    dialogue.status = Dialogue.Status.FINISHED
    dialogue.stop_reason = outcome.stop_reason
    dialogue.final_question = outcome.final_question
    dialogue.final_source = outcome.final_source
    dialogue.final_checks = outcome.final_checks
    dialogue.provenance = outcome.provenance
    dialogue.finished_at = timezone.now()
    dialogue.save(
        update_fields=[
            "status", "stop_reason", "final_question", "final_source", "final_checks", "provenance", "finished_at"
        ]
    )  # fmt: skip
    return dialogue


def dialogue_fail(*, dialogue_id: int, message: str) -> None:
    Dialogue.objects.filter(pk=dialogue_id).exclude(status=Dialogue.Status.FINISHED).update(
        status=Dialogue.Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )


def dialogue_run(*, job: Job) -> dict[str, Any]:
    """The job's work. Each round is stored as it finishes, so the page shows it at once. A model
    that fails (a server that is down) fails the dialogue with its message and keeps the rounds so far;
    no final question is stored half-way."""
    dialogue = Dialogue.objects.select_related("course").get(pk=job.params["dialogue_id"])
    if dialogue.status != Dialogue.Status.QUEUED:
        return {"dialogue_id": dialogue.pk, "skipped": "already run"}
    if dialogue.rounds.exists():  # a redelivered job after a crash: start the rounds again
        dialogue.rounds.all().delete()
    Dialogue.objects.filter(pk=dialogue.pk).update(status=Dialogue.Status.RUNNING)
    dialogue.status = Dialogue.Status.RUNNING
    job_progress_set(job=job, progress=0, total=dialogue.max_rounds, message="Round 1: the Student-Teacher drafts")

    def on_round(outcome: RoundOutcome) -> None:
        round_store(dialogue=dialogue, outcome=outcome)
        next_number = min(outcome.number + 1, dialogue.max_rounds)
        job_progress_set(
            job=job, progress=outcome.number, message=f"Round {outcome.number} done; round {next_number} next"
        )

    try:
        outcome = dialogue_generate(dialogue_spec(dialogue=dialogue), on_round=on_round)
    except models.ModelError as error:
        dialogue_fail(dialogue_id=dialogue.pk, message=error.message)
        raise
    except JobCancelled:
        dialogue_fail(dialogue_id=dialogue.pk, message="Cancelled; the rounds so far are kept.")
        raise
    dialogue_finish(dialogue=dialogue, outcome=outcome)
    return {
        "dialogue_id": dialogue.pk,
        "rounds": len(outcome.rounds),
        "stop_reason": outcome.stop_reason,
        "final_source": outcome.final_source,
        "final_passes_checks": outcome.final_passes_checks,
    }


def _question_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ApplicationError("The question is empty.", extra={"fields": {"text": "Write the question."}})
    if len(text) > MAX_QUESTION_CHARS:
        message = f"Keep the question to {MAX_QUESTION_CHARS:,} characters."
        raise ApplicationError(message, extra={"fields": {"text": message}})
    return text


def _rating(rating: Any) -> int | None:
    if rating in (None, ""):
        return None
    try:
        value = int(rating)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        message = "The rating is a whole number from 1 to 5."
        raise ApplicationError(message, extra={"fields": {"rating": message}})
    return value


def _bank_checks(*, text: str, dialogue: Dialogue | None) -> list[dict[str, Any]]:
    if dialogue is None:
        return []
    return checks_as_data(
        question_checks(text=text, concepts=dialogue.concepts, level=dialogue.level, materials=dialogue.materials)
    )


@transaction.atomic
def bank_question_save(*, user: Any, dialogue: Dialogue, text: str, rating: Any = None) -> BankQuestion:
    """Save a dialogue's final question (as the teacher edited it) to the course's bank, with a rating.
    Saving the same dialogue again updates its bank question."""
    _check_teaching(course=dialogue.course, user=user)
    if dialogue.status != Dialogue.Status.FINISHED or not dialogue.final_question:
        raise ApplicationError("This dialogue has no final question yet.")
    text = _question_text(text)
    value = _rating(rating)
    question = BankQuestion.objects.filter(dialogue=dialogue).first() or BankQuestion(
        course=dialogue.course, dialogue=dialogue, generated_text=dialogue.final_question, created_by=user
    )
    question.text = text
    question.rating = value
    question.checks = _bank_checks(text=text, dialogue=dialogue)
    _clean_and_save(question)
    return question


@transaction.atomic
def bank_question_create(*, user: Any, course: Course, text: str, rating: Any = None) -> BankQuestion:
    """A question the teacher wrote themselves (no dialogue), saved to the course's bank."""
    _check_teaching(course=course, user=user)
    question = BankQuestion(course=course, text=_question_text(text), rating=_rating(rating), created_by=user)
    _clean_and_save(question)
    return question


@transaction.atomic
def bank_question_update(*, user: Any, question: BankQuestion, text: str, rating: Any = None) -> BankQuestion:
    _check_teaching(course=question.course, user=user)
    question.text = _question_text(text)
    question.rating = _rating(rating)
    question.checks = _bank_checks(text=question.text, dialogue=question.dialogue)
    _clean_and_save(question, update_fields=["text", "rating", "checks", "updated_at"])
    return question


def _due_at(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        due = value
    elif isinstance(value, datetime.date):
        due = datetime.datetime.combine(value, datetime.time(23, 59))
    else:
        text = str(value or "").strip()
        try:
            due = (
                datetime.datetime.fromisoformat(text)
                if "T" in text
                else datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time(23, 59))
            )
        except ValueError as error:
            message = "Give the due date as YYYY-MM-DD."
            raise ApplicationError(message, extra={"fields": {"due_at": message}}) from error
    if timezone.is_naive(due):
        due = timezone.make_aware(due)
    if due <= timezone.now():
        message = "The due date must be in the future."
        raise ApplicationError(message, extra={"fields": {"due_at": message}})
    return due


@transaction.atomic
def question_assign(*, user: Any, question: BankQuestion, due_at: Any) -> QuestionAssignment:
    """Assign a bank question to its course with a due date; assigning it again moves the due date."""
    _check_teaching(course=question.course, user=user)
    due = _due_at(due_at)
    assignment, created = QuestionAssignment.objects.get_or_create(
        question=question, course=question.course, defaults={"due_at": due, "assigned_by": user}
    )
    if not created:
        assignment.due_at = due
        assignment.save(update_fields=["due_at"])
    return assignment


@transaction.atomic
def answer_submit(*, user: Any, assignment: QuestionAssignment, text: str) -> Answer:
    """A student's answer to an assigned question; answering again replaces the text."""
    if user_role(user) != Role.STUDENT or not assignment.course.enrollments.filter(student=user).exists():
        raise PermissionDeniedError("Only the course's students answer its reflection questions.")
    text = (text or "").strip()
    if not text:
        raise ApplicationError("Write your answer first.", extra={"fields": {"text": "Write your answer."}})
    if len(text) > MAX_ANSWER_CHARS:
        message = f"Keep your answer to {MAX_ANSWER_CHARS:,} characters."
        raise ApplicationError(message, extra={"fields": {"text": message}})
    answer, created = Answer.objects.select_for_update().get_or_create(
        assignment=assignment, student=user, defaults={"text": text}
    )
    if not created:
        answer.text = text
        answer.save(update_fields=["text", "updated_at"])
    return answer


@transaction.atomic
def answers_send_to_review(*, user: Any, assignment: QuestionAssignment) -> dict[str, Any]:
    """Send the students' answers to the grading review queue as a short-answer question without a reference
    (through core.review_queue: this app does not import grading). Sending again sends the answers as they
    are now; the receiver replaces what it holds. Returns the hand-over, also kept on the assignment."""
    _check_teaching(course=assignment.course, user=user)
    answers = list(Answer.objects.filter(assignment=assignment).order_by("student_id"))
    request = ReviewRequest(
        course_id=assignment.course_id,
        title=f"Reflection: {assignment.question.text[:150]}",
        question_text=assignment.question.text,
        answers=tuple(ReviewAnswer(student_id=answer.student_id, text=answer.text) for answer in answers),
        requested_by_id=user.pk,
        source=f"reflection:assignment:{assignment.pk}",
    )
    handoff = review_queue_send(request=request)
    assignment.review_handoff = {
        "assignment_id": handoff.assignment_id,
        "question_id": handoff.question_id,
        "submissions": handoff.submissions,
        "url": handoff.url,
        "sent_at": timezone.now().isoformat(),
        "sent_by": user.pk,
    }
    assignment.save(update_fields=["review_handoff"])
    return assignment.review_handoff
