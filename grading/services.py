"""Writes to assignments, questions and submissions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from celery import signature
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Course
from accounts.permissions import course_is_taught_by, user_role
from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import Job
from core.services import job_create
from grading.feedback import feedback_contradiction, feedback_for_new_label
from grading.grader import Verdict, verdicts_for
from grading.grader_adapter import (
    Rubric,
    rubric_applied,
    submission_example,
    submission_feedback_item,
    submission_rubric,
)
from grading.models import Assignment, Grade, GradeChange, Label, Question, Submission
from grading.rubric import RUBRIC_VERSION, rubric_items, rubric_points
from grading.selectors import grader_problem, peer_examples, reviewed_feedback_rows, reviewed_grading_examples

MAX_ANSWER_CHARS = 10_000


def _clean_and_save(instance: Any, *, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as error:
        raise ApplicationError("; ".join(error.messages), extra={"fields": error.message_dict}) from error
    instance.save()


@transaction.atomic
def assignment_create(*, course: Course, title: str, description: str = "", created_by: Any = None) -> Assignment:
    assignment = Assignment(course=course, title=title, description=description, created_by=created_by)
    _clean_and_save(assignment)
    return assignment


MAX_RUBRIC_ITEMS = 12
MAX_RUBRIC_ITEM_CHARS = 300
MAX_QUESTION_CHARS = 5_000


def _points_or_none(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (ArithmeticError, ValueError):
        return None
    if not number.is_finite() or abs(number) >= Decimal("1e6"):
        return None
    return number.quantize(Decimal("0.01"))


def _question_fields_clean(
    *,
    text: str,
    reference_answers: list[str],
    max_points: Any,
    rubric: list[dict[str, Any]] | None,
    requires_reference: bool = True,
) -> tuple[str, list[str], Decimal, list[dict[str, Any]]]:
    """The question's fields as stored, or an ApplicationError naming every field that is wrong.

    Rules: the text is not empty; at least one reference answer; max points above 0; at most
    MAX_RUBRIC_ITEMS rubric items, each with text and points above 0 and at most the max points. The items'
    points need not add up to the max points: the score is the met items' share of them, scaled to it."""
    errors: dict[str, list[str]] = {}
    clean_text = (text or "").strip()
    if not clean_text:
        errors["text"] = ["Write the question."]
    elif len(clean_text) > MAX_QUESTION_CHARS:
        errors["text"] = [f"The question is {len(clean_text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}."]
    answers = [answer.strip() for answer in reference_answers if answer and answer.strip()]
    if not answers and requires_reference:
        errors["reference_answers"] = ["A question needs at least one reference answer."]
    points = _points_or_none(max_points)
    if points is None:
        points = Decimal(0)
        errors["max_points"] = ["Max points is a number, such as 2 or 1.5."]
    elif points <= 0 or points >= Decimal("10000"):
        errors["max_points"] = ["Max points is above 0 and below 10,000."]
    items: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, raw in enumerate(rubric or [], start=1):
        item_text = " ".join(str(raw.get("text", "") or "").split())
        item_points = _points_or_none(raw.get("points", 1))
        if item_points is None:
            problems.append(f"Item {number}: its points are a number, such as 1.")
            continue
        if not item_text:
            problems.append(f"Item {number}: write what the answer should say.")
        elif len(item_text) > MAX_RUBRIC_ITEM_CHARS:
            problems.append(f"Item {number}: at most {MAX_RUBRIC_ITEM_CHARS} characters.")
        if item_points <= 0:
            problems.append(f"Item {number}: its points are above 0.")
        elif "max_points" not in errors and item_points > points:
            most = f"{points.normalize():f}"
            problems.append(f"Item {number}: its points are at most the question's max points ({most}).")
        items.append({"text": item_text, "points": float(item_points)})
    if len(items) > MAX_RUBRIC_ITEMS:
        problems.append(f"A question has at most {MAX_RUBRIC_ITEMS} rubric items; this one has {len(items)}.")
    if problems:
        errors["rubric"] = problems
    if errors:
        message = "; ".join(message for messages in errors.values() for message in messages)
        code = "reference_missing" if list(errors) == ["reference_answers"] else "question_invalid"
        raise ApplicationError(message, code=code, extra={"fields": errors})
    return clean_text, answers, points, items


@transaction.atomic
def question_create(
    *,
    assignment: Assignment,
    text: str,
    reference_answers: list[str],
    max_points: Decimal | float = Decimal("1.00"),
    rubric: list[dict[str, Any]] | None = None,
    position: int | None = None,
    source: str = "",
    requires_reference: bool = True,
) -> Question:
    """Add a question to an assignment, at the end unless `position` is given; an ApplicationError names each
    field that is wrong and nothing is saved.

    `requires_reference=False` is for answers handed over for the teacher's review only (grading.review_intake):
    such a question may have no reference answer, and the grader does not grade its answers."""
    text, answers, points, items = _question_fields_clean(
        text=text,
        reference_answers=reference_answers,
        max_points=max_points,
        rubric=rubric,
        requires_reference=requires_reference,
    )
    if position is None:
        position = (assignment.questions.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    question = Question(
        assignment=assignment,
        text=text,
        reference_answers=answers,
        max_points=points,
        rubric=items,
        position=position,
        source=source,
    )
    # The model asks for reference answers (a form's blank check); the rules above decide when none is fine.
    _clean_and_save(question, exclude=None if answers else ["reference_answers"])
    return question


@transaction.atomic
def question_update(
    *,
    question: Question,
    text: str,
    reference_answers: list[str],
    max_points: Decimal | float,
    rubric: list[dict[str, Any]] | None,
) -> Question:
    """Change a question's text, reference answers, max points and rubric items.

    Grades already given are left as they are: their score, their label and the items they were ticked as
    meeting or missing (stored as the items' text) stay, so a reworded or removed item still shows on them as
    it was. Answers graded from now on, and grades the grader grades again, use the new items; in the review
    queue a teacher ticks a graded answer's items again to score it with them."""
    text, answers, points, items = _question_fields_clean(
        text=text, reference_answers=reference_answers, max_points=max_points, rubric=rubric
    )
    locked = Question.objects.select_for_update().get(pk=question.pk)
    locked.text, locked.reference_answers, locked.max_points, locked.rubric = text, answers, points, items
    _clean_and_save(locked)
    question.refresh_from_db()
    return question


@transaction.atomic
def submission_create(*, question: Question, student: Any, answer_text: str) -> Submission:
    """Store a student's answer as the current one; earlier answers are kept, not current."""
    if user_role(student) != "student":
        raise PermissionDeniedError("Only students submit answers.")
    if not question.assignment.course.enrollments.filter(student=student).exists():
        raise PermissionDeniedError("You are not enrolled in this question's course.")
    if Grade.objects.filter(
        submission__question=question, submission__student=student, status=Grade.Status.RELEASED
    ).exists():
        raise ConflictError(
            "Your teacher has released the grade of this answer, so answers to this question are closed.",
            code="answers_closed",
        )
    text = (answer_text or "").strip()
    if not text:
        raise ApplicationError("The answer is empty. Write your answer before submitting.", code="answer_empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise ApplicationError(
            f"The answer is {len(text):,} characters long; the limit is {MAX_ANSWER_CHARS:,}.",
            code="answer_too_long",
        )
    Submission.objects.select_for_update().filter(question=question, student=student, is_current=True).update(
        is_current=False
    )
    return Submission.objects.create(question=question, student=student, answer_text=text, is_current=True)


# --- Grading ------------------------------------------------------------------------------------

DEFAULT_FRACTION = {"correct": Decimal("1"), "partially_correct": Decimal("0.5"), "incorrect": Decimal("0")}


def _verdicts(*, submissions: list[Submission], rubrics: list[Rubric], include_feedback: bool) -> list[Verdict]:
    """The grader's verdicts on these answers, with their questions' reviewed grades as graded neighbours and
    every current answer to them as peers."""
    question_ids = sorted({submission.question_id for submission in submissions})
    return verdicts_for(
        [submission_example(submission=submission) for submission in submissions],
        [
            submission_feedback_item(submission=submission, rubric=rubric)
            for submission, rubric in zip(submissions, rubrics, strict=True)
        ],
        include_feedback=include_feedback,
        extra_bank_rows=reviewed_feedback_rows(question_ids=question_ids) if include_feedback else None,
        graded=reviewed_grading_examples(question_ids=question_ids),
        peers=peer_examples(question_ids=question_ids),
    )


def submissions_grade(*, submissions: list[Submission], include_feedback: bool = True) -> list[Grade]:
    """Grade the given submissions that have no grade yet, with the reviewed grades of their questions as
    graded neighbours. Running it twice grades nothing twice."""
    graded = set(Grade.objects.filter(submission__in=submissions).values_list("submission_id", flat=True))
    ungraded = [submission for submission in submissions if submission.pk not in graded]
    if not ungraded:
        return []
    rubrics = [submission_rubric(submission=submission) for submission in ungraded]
    verdicts = _verdicts(submissions=ungraded, rubrics=rubrics, include_feedback=include_feedback)
    grades = []
    for submission, verdict, rubric in zip(ungraded, verdicts, rubrics, strict=True):
        points, feedback, rubric_met, rubric_missed = rubric_applied(
            submission=submission,
            rubric=rubric,
            points=verdict.points(submission.question.max_points),
            feedback=verdict.feedback,
            label=verdict.label,
        )
        grades.append(
            Grade(
                submission=submission,
                label=verdict.label,
                score=points,
                feedback=feedback,
                rubric_met=rubric_met,
                rubric_missed=rubric_missed,
                confidence=verdict.confidence,
                model_label=verdict.label,
                model_score=points,
                model_feedback=feedback,
                provenance={**verdict.provenance, **({"rubric_version": RUBRIC_VERSION} if rubric[0] else {})},
            )
        )
    try:
        with transaction.atomic():
            created = Grade.objects.bulk_create(grades)
            _machine_changes_record(created)
    except IntegrityError:
        # A concurrent run graded some of these meanwhile: keep its grades, add the rest one by one.
        created = []
        for grade in grades:
            with transaction.atomic():
                kept, was_created = Grade.objects.get_or_create(
                    submission=grade.submission,
                    defaults={
                        field: getattr(grade, field)
                        for field in (
                            "label",
                            "score",
                            "feedback",
                            "confidence",
                            "model_label",
                            "model_score",
                            "model_feedback",
                            "provenance",
                            "rubric_met",
                            "rubric_missed",
                        )
                    },
                )
                if was_created:
                    _machine_changes_record([kept])
                    created.append(kept)
    return created


def _machine_changes_record(grades: list[Grade]) -> None:
    GradeChange.objects.bulk_create(
        [
            GradeChange(
                grade=grade,
                action=GradeChange.Action.MACHINE_GRADED,
                after={"label": grade.label, "score": str(grade.score), "feedback": grade.feedback},
            )
            for grade in grades
        ]
    )


def assignment_grading_start(*, assignment: Assignment, user: Any, then_train_full_grader: bool = False) -> Job:
    """Start grading every ungraded current answer of an assignment as a background job.

    Refused (409, code "grader_not_ready") while no grader can grade: the message says why, for teachers.
    `then_train_full_grader`: the first grader's job grades the waiting answers first and trains the full
    grader after them, so that the two do not share the CPU while the teacher waits for the grades."""
    _check_teaching(course=assignment.course, user=user)
    problem = grader_problem()
    if problem:
        raise ConflictError(problem, code="grader_not_ready")
    params: dict[str, Any] = {"assignment_id": assignment.pk}
    if then_train_full_grader:
        params["then_train_full_grader"] = True
    return job_create(
        kind="grading.assignment",
        title=f"Grade “{assignment.title}”",
        task=signature(ASSIGNMENT_GRADE_TASK),
        created_by=user,
        params=params,
        unique_key=f"grading.assignment.{assignment.pk}",
    )


def grades_regrade(*, grades: list[Grade], include_feedback: bool = True) -> int:
    """Grade untouched machine grades again with their questions' reviewed grades as neighbours; a grade a
    teacher changed meanwhile is left alone; every one gets the new confidence and provenance. Returns how many
    changed label or score."""
    if not grades:
        return 0
    submissions = [grade.submission for grade in grades]
    rubrics = [submission_rubric(submission=submission) for submission in submissions]
    verdicts = _verdicts(submissions=submissions, rubrics=rubrics, include_feedback=include_feedback)
    changed = 0
    with transaction.atomic():
        locked = {g.pk: g for g in Grade.objects.select_for_update().filter(pk__in=[g.pk for g in grades])}
        for grade, verdict, rubric in zip(grades, verdicts, rubrics, strict=True):
            current = locked.get(grade.pk)
            if current is None or not _untouched(current):
                continue
            points, feedback, rubric_met, rubric_missed = rubric_applied(
                submission=grade.submission,
                rubric=rubric,
                points=verdict.points(grade.submission.question.max_points),
                feedback=verdict.feedback,
                label=verdict.label,
            )
            same = current.label == verdict.label and current.score == points
            before = _snapshot(current)
            current.label = current.model_label = verdict.label
            current.score = current.model_score = points
            current.confidence = verdict.confidence
            current.rubric_met, current.rubric_missed = rubric_met, rubric_missed
            if include_feedback and not same:
                current.feedback = current.model_feedback = feedback
            current.provenance = (
                verdict.provenance
                if include_feedback and not same
                else {
                    **current.provenance,
                    **{k: v for k, v in verdict.provenance.items() if not k.startswith("feedback")},
                }
            )
            current.save(
                update_fields=[
                    "label",
                    "model_label",
                    "score",
                    "model_score",
                    "confidence",
                    "feedback",
                    "model_feedback",
                    "provenance",
                    "rubric_met",
                    "rubric_missed",
                ]
            )
            if not same:  # a new confidence alone is no change of the grade
                GradeChange.objects.create(
                    grade=current, action=GradeChange.Action.MACHINE_GRADED, before=before, after=_snapshot(current)
                )
                changed += 1
    return changed


def _untouched(grade: Grade) -> bool:
    return (
        grade.status == Grade.Status.AWAITING_REVIEW
        and not grade.was_overridden
        and grade.label == grade.model_label
        and grade.score == grade.model_score
        and grade.feedback == grade.model_feedback
    )


# --- Review --------------------------------------------------------------------------------------


def _check_teaching(*, course: Any, user: Any) -> None:
    if not course_is_taught_by(course=course, user=user):
        raise PermissionDeniedError("Only the course's teachers and admins may review its grades.")


def _snapshot(grade: Grade) -> dict[str, Any]:
    return {"label": grade.label, "score": str(grade.score), "feedback": grade.feedback, "status": grade.status}


def _grade_locked(grade: Grade, user: Any) -> Grade:
    locked = (
        Grade.objects.select_for_update().select_related("submission__question__assignment__course").get(pk=grade.pk)
    )
    _check_teaching(course=locked.submission.question.assignment.course, user=user)
    return locked


@transaction.atomic
def grade_accept(*, grade: Grade, user: Any) -> Grade:
    grade = _grade_locked(grade, user)
    before = _snapshot(grade)
    if grade.status == Grade.Status.AWAITING_REVIEW:
        grade.status = Grade.Status.APPROVED
    grade.reviewer, grade.reviewed_at = user, timezone.now()
    grade.save(update_fields=["status", "reviewer", "reviewed_at"])
    GradeChange.objects.create(
        grade=grade, action=GradeChange.Action.ACCEPTED, changed_by=user, before=before, after=_snapshot(grade)
    )
    return grade


@transaction.atomic
def grade_override(
    *, grade: Grade, user: Any, label: str, score: Decimal | None = None, feedback: str | None = None
) -> Grade:
    if label not in Label.values:
        raise ApplicationError(f"Unknown label “{label}”: choose correct, partially_correct or incorrect.")
    grade = _grade_locked(grade, user)
    max_points = grade.submission.question.max_points
    if score is None:
        score = (DEFAULT_FRACTION[label] * max_points).quantize(Decimal("0.01"))
    score = Decimal(str(score))
    if score < 0 or score > max_points:
        raise ApplicationError(f"The score must be between 0 and {max_points}.", code="score_out_of_range")
    before = _snapshot(grade)
    label_changed = label != grade.label
    grade.label, grade.score = label, score
    if feedback is not None:
        grade.feedback = _checked_feedback(feedback)
        _check_feedback_agrees(feedback=grade.feedback, label=label)
    elif label_changed and grade.feedback:
        # Feedback follows the grade: a verdict the old feedback states is rewritten for the new label,
        # and the card asks the teacher to read it (provenance["feedback_rewritten_for"]).
        grade.feedback = feedback_for_new_label(grade.feedback, label)
        grade.provenance = {**grade.provenance, "feedback_rewritten_for": label}
    grade.was_overridden = grade.was_overridden or (label != grade.model_label or score != grade.model_score)
    if grade.status != Grade.Status.RELEASED:
        grade.status = Grade.Status.OVERRIDDEN if grade.was_overridden else Grade.Status.APPROVED
    grade.reviewer, grade.reviewed_at = user, timezone.now()
    grade.save(
        update_fields=[
            "label",
            "score",
            "feedback",
            "provenance",
            "was_overridden",
            "status",
            "reviewer",
            "reviewed_at",
        ]
    )
    GradeChange.objects.create(
        grade=grade, action=GradeChange.Action.OVERRIDDEN, changed_by=user, before=before, after=_snapshot(grade)
    )
    return grade


def _check_feedback_agrees(*, feedback: str, label: str) -> None:
    """A teacher's feedback may not state another verdict than the grade's label."""
    stated = feedback_contradiction(feedback, label)
    if stated:
        raise ApplicationError(
            f"The feedback says the answer is {stated}, but the grade is {Label(label).label}: "
            "change the feedback or the label so that they agree.",
            code="feedback_contradicts_label",
            extra={"fields": {"feedback": [f"It states “{stated}”; the label is {Label(label).label}."]}},
        )


def grade_feedback_contradictions(*, grades: list[Grade]) -> list[str]:
    """ "Ada Lovelace, Q2: graded Correct, the feedback says partially correct" for each grade at odds."""
    problems = []
    for grade in grades:
        stated = feedback_contradiction(grade.feedback, grade.label)
        if stated:
            submission = grade.submission
            problems.append(
                f"{submission.student.display_name}, Q{submission.question.position}: graded "
                f"{grade.get_label_display()}, the feedback says {stated}"
            )
    return problems


def _checked_feedback(feedback: str) -> str:
    text = (feedback or "").strip()
    if len(text) > MAX_ANSWER_CHARS:
        raise ApplicationError(f"Feedback is limited to {MAX_ANSWER_CHARS:,} characters.", code="feedback_too_long")
    return text


@transaction.atomic
def grade_rubric_set(*, grade: Grade, user: Any, met: list[int]) -> Grade:
    """The teacher ticks the rubric items the answer meets (their positions in the question's rubric); the
    score follows the items, the grade counts as reviewed (overridden when the score moved)."""
    grade = _grade_locked(grade, user)
    question = grade.submission.question
    items = rubric_items(question.rubric)
    if not items:
        raise ApplicationError("This question has no rubric items.", code="no_rubric")
    bad = [position for position in met if not 0 <= position < len(items)]
    if bad:
        raise ApplicationError(f"No rubric item {bad[0] + 1}: the question has {len(items)}.", code="rubric_item")
    chosen = set(met)
    ticks = [i in chosen for i in range(len(items))]
    before = {**_snapshot(grade), "rubric_met": list(grade.rubric_met)}
    grade.score = rubric_points(items=items, met=ticks, max_points=question.max_points)
    grade.rubric_met = [item.text for item, ok in zip(items, ticks, strict=True) if ok]
    grade.rubric_missed = [item.text for item, ok in zip(items, ticks, strict=True) if not ok]
    grade.was_overridden = grade.was_overridden or grade.score != grade.model_score
    if grade.status != Grade.Status.RELEASED:
        grade.status = Grade.Status.OVERRIDDEN if grade.was_overridden else Grade.Status.APPROVED
    grade.reviewer, grade.reviewed_at = user, timezone.now()
    grade.save(
        update_fields=["score", "rubric_met", "rubric_missed", "was_overridden", "status", "reviewer", "reviewed_at"]
    )
    GradeChange.objects.create(
        grade=grade,
        action=GradeChange.Action.OVERRIDDEN,
        changed_by=user,
        before=before,
        after={**_snapshot(grade), "rubric_met": list(grade.rubric_met)},
    )
    return grade


@transaction.atomic
def grade_feedback_edit(*, grade: Grade, user: Any, feedback: str, approve: bool = False) -> Grade:
    """Save a teacher's feedback. The grade is approved only when they ask for it (Save and accept)."""
    grade = _grade_locked(grade, user)
    before = _snapshot(grade)
    grade.feedback = _checked_feedback(feedback)
    _check_feedback_agrees(feedback=grade.feedback, label=grade.label)
    grade.provenance = {key: value for key, value in grade.provenance.items() if key != "feedback_rewritten_for"}
    if approve and grade.status == Grade.Status.AWAITING_REVIEW:
        grade.status = Grade.Status.APPROVED
    if approve or grade.status != Grade.Status.AWAITING_REVIEW:
        grade.reviewer, grade.reviewed_at = user, timezone.now()
    grade.save(update_fields=["feedback", "provenance", "status", "reviewer", "reviewed_at"])
    GradeChange.objects.create(
        grade=grade,
        action=GradeChange.Action.FEEDBACK_EDITED,
        changed_by=user,
        before=before,
        after=_snapshot(grade),
    )
    return grade


def grades_accept_many(*, grades: list[Grade], user: Any) -> int:
    with transaction.atomic():
        for grade in grades:
            grade_accept(grade=grade, user=user)
    return len(grades)


def grades_relabel_many(*, grades: list[Grade], user: Any, label: str) -> int:
    with transaction.atomic():
        for grade in grades:
            grade_override(grade=grade, user=user, label=label)
    return len(grades)


def assignment_release(*, assignment: Assignment, user: Any) -> int:
    """Release every reviewed grade of the assignment to its students. Unreviewed grades stay hidden."""
    return grades_release(assignment=assignment, user=user)


@transaction.atomic
def grades_release(*, assignment: Assignment, user: Any, question: Question | None = None, student: Any = None) -> int:
    """Release the reviewed grades of an assignment, of one of its questions, or of one student.

    Unreviewed grades stay hidden. Nothing is released when the feedback of any grade to release
    states another verdict than its label: the message names each such grade."""
    _check_teaching(course=assignment.course, user=user)
    if question is not None and question.assignment_id != assignment.pk:
        raise ApplicationError("That question is not part of this assignment.", code="question_not_in_assignment")
    grades_to_release = Grade.objects.filter(
        submission__question__assignment=assignment, status__in=[Grade.Status.APPROVED, Grade.Status.OVERRIDDEN]
    )
    if question is not None:
        grades_to_release = grades_to_release.filter(submission__question=question)
    if student is not None:
        grades_to_release = grades_to_release.filter(submission__student=student)
    grades = list(
        grades_to_release.select_for_update(of=("self",)).select_related("submission__student", "submission__question")
    )
    problems = grade_feedback_contradictions(grades=grades)
    if problems:
        raise ApplicationError(
            f"Nothing was released: the feedback of {len(problems)} grade{'s' if len(problems) != 1 else ''} "
            f"contradicts its label. {'; '.join(problems)}. Edit the feedback or the label, then release.",
            code="feedback_contradicts_label",
        )
    now = timezone.now()
    for grade in grades:
        before = _snapshot(grade)
        grade.status, grade.released_at = Grade.Status.RELEASED, now
        grade.save(update_fields=["status", "released_at"])
        GradeChange.objects.create(
            grade=grade, action=GradeChange.Action.RELEASED, changed_by=user, before=before, after=_snapshot(grade)
        )
    return len(grades)


def grades_mark_seen(*, student: Any) -> int:
    """The student has read their released grades: the dashboard stops calling them new."""
    return Grade.objects.filter(
        submission__student=student, status=Grade.Status.RELEASED, seen_by_student_at__isnull=True
    ).update(seen_by_student_at=timezone.now())


# The grading jobs' Celery tasks (grading/tasks.py), sent by name: the tasks run grading.jobs, which
# calls these services, so the services must not import them.
ASSIGNMENT_GRADE_TASK = "grading.model_assignment_grade_task"
GRADER_TRAIN_TASK = "grading.model_grader_train_task"
GRADER_QUICK_KEY = "grading.first_grader"
GRADER_TRAINING_KEYS = (GRADER_QUICK_KEY, "grading.retrain")


def grader_training_start(*, user: Any = None, fast: bool = False, title: str = "Train the grader") -> Job:
    """Train a grader in the background: the first from the shipped seed data, later ones with reviews.

    One at a time: while one is queued or running, another is refused (ConflictError) with `title` named."""
    return job_create(
        kind="grading.retrain",
        title=title,
        task=signature(GRADER_TRAIN_TASK),
        created_by=user,
        params={"fast": fast},
        unique_key="grading.retrain",
    )


def grader_first_start(*, user: Any = None, grade_assignment_ids: list[int] | None = None) -> Job:
    """A fresh install's first grader, in about a minute: a quick fit activated at once; then the given
    assignments are graded and the full grader is trained, replacing the quick one when it is ready."""
    return job_create(
        kind="grading.retrain",
        title="Prepare the first grader",
        task=signature(GRADER_TRAIN_TASK),
        created_by=user,
        params={"quick": True, "grade_assignment_ids": list(grade_assignment_ids or [])},
        unique_key=GRADER_QUICK_KEY,
    )
