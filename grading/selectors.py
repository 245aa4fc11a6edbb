"""Reads of assignments, questions and submissions, filtered by who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Count, Prefetch, Q, QuerySet
from django.urls import reverse

from accounts.permissions import queryset_visible
from core.errors import ApplicationError, NotFoundError
from core.models import Job
from core.selectors import job_list_for_user
from grading.grader import active_grader_dir
from grading.grader_adapter import question_key, submission_example
from grading.grader_model import GradingExample, question_text_key
from grading.models import Assignment, Grade, Label, Question, Submission
from grading.teaching import similar_groups, teaching_order
from models_runtime import api as models


def assignment_list_for_user(*, user: Any) -> QuerySet[Assignment]:
    assignments = queryset_visible(Assignment.objects.all(), user=user, course_path="course")
    own_answers = queryset_visible(
        Submission.objects.filter(is_current=True),
        user=user,
        course_path="question__assignment__course",
        owner_path="student",
    )
    return (
        assignments.select_related("course")
        .annotate(
            question_count=Count("questions", distinct=True),
            answer_count=Count(
                "questions__submissions", filter=Q(questions__submissions__in=own_answers), distinct=True
            ),
        )
        .prefetch_related(Prefetch("questions", queryset=Question.objects.order_by("position", "pk")))
        .order_by("course__name", "title")
    )


def assignment_get_for_user(*, user: Any, assignment_id: Any) -> Assignment:
    try:
        return assignment_list_for_user(user=user).get(pk=assignment_id)
    except (Assignment.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such assignment, or it is not one of yours.") from error


def grade_queue(
    *,
    assignment: Assignment,
    question_id: int | None = None,
    label: str | None = None,
    status: str | None = None,
    student_id: int | None = None,
) -> QuerySet[Grade]:
    """Grades of an assignment for review, least confident first."""
    grades = Grade.objects.filter(submission__question__assignment=assignment, submission__is_current=True)
    if question_id:
        grades = grades.filter(submission__question_id=question_id)
    if label:
        grades = grades.filter(label=label)
    if status:
        grades = grades.filter(status=status)
    if student_id:
        grades = grades.filter(submission__student_id=student_id)
    return grades.select_related("submission__student", "submission__question", "reviewer").order_by("confidence", "pk")


# At most this many awaiting grades are put in the teaching order per page view (each is embedded); the
# rest follow, least confident first.
TEACHING_ORDER_MAX = 600
# A grade the grader gives at least this confidence counts as one it is sure of.
SURE_CONFIDENCE = 0.8


def grade_queue_teaching_order(
    *,
    assignment: Assignment,
    question_id: int | None = None,
    label: str | None = None,
    status: str | None = None,
    student_id: int | None = None,
) -> list[Grade]:
    """The review queue: grades awaiting review first, in the order that teaches the grader most
    (`grading.teaching.teaching_order`: least confident first, one per group of similar answers per round),
    then the reviewed ones, least confident first."""
    grades = list(
        grade_queue(assignment=assignment, question_id=question_id, label=label, status=status, student_id=student_id)
    )
    awaiting = [g for g in grades if g.status == Grade.Status.AWAITING_REVIEW]
    head, tail = awaiting[:TEACHING_ORDER_MAX], awaiting[TEACHING_ORDER_MAX:]
    if len(head) > 1:
        try:
            vectors = models.embed([grade.submission.answer_text for grade in head])
        except models.ModelError:  # no embedding model: groups of one, the least confident first
            vectors = np.eye(len(head), dtype=np.float32)
        groups = similar_groups([g.submission.question_id for g in head], [g.label for g in head], vectors)
        head = [head[i] for i in teaching_order([g.confidence for g in head], groups, seed=assignment.pk)]
    return head + tail + [g for g in grades if g.status != Grade.Status.AWAITING_REVIEW]


@dataclass
class QuestionSureness:
    question: Question
    sure: int
    awaiting: int
    reviewed: int


def grader_sureness(*, assignment: Assignment) -> list[QuestionSureness]:
    """Per question: how many grades awaiting review the grader is sure of (confidence at least
    `SURE_CONFIDENCE`), of how many, and how many answers the teachers have reviewed."""
    rows = {
        row["submission__question_id"]: row
        for row in Grade.objects.filter(submission__question__assignment=assignment, submission__is_current=True)
        .values("submission__question_id")
        .annotate(
            awaiting=Count("pk", filter=Q(status=Grade.Status.AWAITING_REVIEW)),
            sure=Count("pk", filter=Q(status=Grade.Status.AWAITING_REVIEW, confidence__gte=SURE_CONFIDENCE)),
            reviewed=Count("pk", filter=Q(status__in=Grade.REVIEWED_STATUSES)),
        )
    }
    out = []
    for question in assignment.questions.order_by("position", "pk"):
        row = rows.get(question.pk)
        if row:
            out.append(QuestionSureness(question, row["sure"], row["awaiting"], row["reviewed"]))
    return out


def grade_groups(*, grades: list[Grade], threshold: float = 0.88) -> dict[int, int]:
    """Group similar answers of the same question and label: {grade id: group number}; singletons get none.

    A teacher can then approve or relabel a whole group at once.
    """
    if not grades:
        return {}
    vectors = models.embed([grade.submission.answer_text for grade in grades])
    groups: dict[int, int] = {}
    leaders: list[tuple[int, Grade]] = []
    next_group = 1
    members: dict[int, list[int]] = {}
    for index, grade in enumerate(grades):
        for leader_index, leader in leaders:
            if (
                leader.submission.question_id == grade.submission.question_id
                and leader.label == grade.label
                and float(vectors[index] @ vectors[leader_index]) >= threshold
            ):
                members[leader.pk].append(grade.pk)
                break
        else:
            leaders.append((index, grade))
            members[grade.pk] = [grade.pk]
    for group in members.values():
        if len(group) > 1:
            for pk in group:
                groups[pk] = next_group
            next_group += 1
    return groups


@dataclass(frozen=True)
class ReviewGroup:
    """Similar answers to one question with one label, which a teacher accepts or relabels at once."""

    number: int
    question: Question
    label: str
    label_display: str
    grade_ids: list[int]


@dataclass(frozen=True)
class ReviewGroups:
    """A review page's groups: each grade's group number (grades alone in theirs have none), the groups in
    the order of their first grade, and why answers are not grouped ("" when they are)."""

    group_of: dict[int, int]
    groups: list[ReviewGroup]
    problem: str = ""


def grade_review_groups(*, grades: list[Grade]) -> ReviewGroups:
    """The groups of similar answers among these grades (a review page's). Without an embedding model the
    answers are not grouped, and `problem` says so."""
    try:
        group_of = grade_groups(grades=grades)
    except models.ModelError as error:
        return ReviewGroups(group_of={}, groups=[], problem=f"Similar answers are not grouped: {error.message}")
    groups: dict[int, ReviewGroup] = {}
    for grade in grades:
        number = group_of.get(grade.pk)
        if number is None:
            continue
        if number not in groups:
            groups[number] = ReviewGroup(
                number=number,
                question=grade.submission.question,
                label=grade.label,
                label_display=grade.get_label_display(),
                grade_ids=[],
            )
        groups[number].grade_ids.append(grade.pk)
    return ReviewGroups(group_of=group_of, groups=list(groups.values()))


def grade_list_for_group(*, assignment: Assignment, grade_ids: list[int]) -> list[Grade]:
    """The grades of a group a teacher acts on; refused when any of them is no longer in the assignment's queue
    (another teacher's action, a new answer), so that nothing is done to a group the page no longer shows."""
    grades = list(grade_queue(assignment=assignment).filter(pk__in=grade_ids))
    if not grades or len(grades) != len(grade_ids):
        raise ApplicationError("Some of these grades are not in this assignment any more; reload the page.")
    return grades


def assignment_chart_data(*, assignment: Assignment) -> dict[str, Any]:
    """Labels per question, model-teacher agreement over reviewed answers, confidence histogram."""
    grades = list(
        Grade.objects.filter(submission__question__assignment=assignment, submission__is_current=True).values(
            "submission__question__position", "label", "model_label", "status", "confidence"
        )
    )
    labels = [choice for choice, _ in Label.choices]
    positions = sorted({row["submission__question__position"] for row in grades})
    per_question = {
        label: [
            sum(1 for row in grades if row["label"] == label and row["submission__question__position"] == position)
            for position in positions
        ]
        for label in labels
    }
    reviewed = [row for row in grades if row["status"] in Grade.REVIEWED_STATUSES]
    confusion = [
        [sum(1 for row in reviewed if row["model_label"] == model and row["label"] == teacher) for teacher in labels]
        for model in labels
    ]
    agreement = sum(1 for row in reviewed if row["model_label"] == row["label"])
    return {
        "labels": labels,
        "questions": [f"Q{position}" for position in positions],
        "per_question": per_question,
        "confusion": confusion,
        "reviewed": len(reviewed),
        "agreement": round(agreement / len(reviewed), 3) if reviewed else None,
        "confidences": [round(row["confidence"], 3) for row in grades],
    }


def grade_list_released_for_student(*, student: Any) -> QuerySet[Grade]:
    return (
        Grade.objects.filter(submission__student=student, submission__is_current=True, status=Grade.Status.RELEASED)
        .select_related("submission__question__assignment__course")
        .order_by("submission__question__assignment", "submission__question__position")
    )


def submission_list_for_student(*, student: Any, assignment: Assignment) -> QuerySet[Submission]:
    return Submission.objects.filter(student=student, question__assignment=assignment, is_current=True).select_related(
        "question", "grade"
    )


# --- Reads for the grading pages and API (added with the views; see grading/README.md) -----------


def assignment_grade_counts(*, assignment_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per assignment: how many current answers are graded, awaiting review and released. One query."""
    counts = {assignment_id: {"graded": 0, "awaiting_review": 0, "released": 0} for assignment_id in assignment_ids}
    rows = (
        Grade.objects.filter(submission__question__assignment_id__in=assignment_ids, submission__is_current=True)
        .values("submission__question__assignment_id")
        .annotate(
            graded=Count("pk"),
            awaiting_review=Count("pk", filter=Q(status=Grade.Status.AWAITING_REVIEW)),
            released=Count("pk", filter=Q(status=Grade.Status.RELEASED)),
        )
        .order_by()
    )
    for row in rows:
        counts[row["submission__question__assignment_id"]] = {
            "graded": row["graded"],
            "awaiting_review": row["awaiting_review"],
            "released": row["released"],
        }
    return counts


def question_get_for_user(*, user: Any, question_id: Any) -> Question:
    questions = queryset_visible(
        Question.objects.select_related("assignment__course"), user=user, course_path="assignment__course"
    )
    try:
        return questions.get(pk=question_id)
    except (Question.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such question, or it is not one of yours.") from error


def grade_get_for_user(*, user: Any, grade_id: Any) -> Grade:
    """A grade the caller may see: teachers of its course and admins; a student only their own."""
    grades = queryset_visible(
        Grade.objects.select_related("submission__student", "submission__question__assignment__course", "reviewer"),
        user=user,
        course_path="submission__question__assignment__course",
        owner_path="submission__student",
    )
    try:
        return grades.get(pk=grade_id)
    except (Grade.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such grade, or it is not one of yours.") from error


def submission_list_current_for_student(*, student: Any) -> QuerySet[Submission]:
    """A student's current answers across their courses. Never select their grades: unreleased ones stay hidden."""
    return Submission.objects.filter(student=student, is_current=True).select_related("question")


def question_ids_released_for_student(*, student: Any, assignment: Assignment | None = None) -> set[int]:
    """Questions whose current answer of this student has a released grade: their reference answers are shown."""
    grades = grade_list_released_for_student(student=student)
    if assignment is not None:
        grades = grades.filter(submission__question__assignment=assignment)
    return set(grades.values_list("submission__question_id", flat=True))


def assignment_grading_job_active(*, assignment: Assignment, user: Any) -> Any:
    """The queued or running grading job of an assignment that this user may follow, or None."""
    return (
        job_list_for_user(user=user)
        .filter(unique_key=f"grading.assignment.{assignment.pk}", status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
        .first()
    )


GRADER_MISSING = (
    "No grader is active yet, so answers cannot be graded. An administrator can prepare one from the "
    "Models page or the assignment page."
)


def grader_problem() -> str:
    """Why grading cannot start now (no active grader, missing files), or "" when a grader is ready.

    Worded for teachers: it never asks anyone to run a command."""
    try:
        active_grader_dir()
    except models.ModelNotFoundError:
        preparing = grader_training_job_active()
        if preparing is not None:
            return (
                f"The first grader is being prepared ({preparing.percent}%). Grading opens by itself when it "
                "is ready, in a minute or two."
            )
        return GRADER_MISSING
    except models.ModelError as error:
        return error.message
    return ""


def grader_training_job_active() -> Any:
    """The queued or running job that trains a grader (the quick first one before the full one), or None.

    Every teacher may follow its progress on the assignment page: it decides when they can grade."""
    jobs = Job.objects.filter(kind="grading.retrain", status__in=Job.ACTIVE_STATUSES)
    return jobs.filter(params__quick=True).order_by("created_at").first() or jobs.order_by("created_at").first()


def grader_is_quick_active() -> bool:
    """Whether the grader serving now is the quick first one (the full one is still to come)."""
    try:
        version = models.version_for_task("grader")
    except models.ModelError:
        return False
    return bool((version.metrics or {}).get("quick"))


@dataclass(frozen=True)
class AttentionItem:
    """One thing on a dashboard that needs someone: a count, what it is, and where to deal with it."""

    count: int
    text: str
    url: str


def attention_for_teacher(*, user: Any) -> list[AttentionItem]:
    """Grades awaiting the teacher's review, per assignment of the courses they teach (admins: all)."""
    assignments = list(assignment_list_for_user(user=user))
    counts = assignment_grade_counts(assignment_ids=[assignment.pk for assignment in assignments])
    items = []
    for assignment in assignments:
        waiting = counts[assignment.pk]["awaiting_review"]
        if waiting:
            items.append(
                AttentionItem(
                    count=waiting,
                    text=f"grade{'s' if waiting != 1 else ''} awaiting review in “{assignment.title}”",
                    url=reverse("grading:review", args=[assignment.pk]) + "?status=awaiting_review",
                )
            )
    return items


def attention_for_student(*, student: Any) -> list[AttentionItem]:
    """Grades released since the student last opened their grades, and questions still waiting for an answer."""
    url = reverse("grading:index")
    items = []
    new_grades = (
        grade_list_released_for_student(student=student)
        .filter(seen_by_student_at__isnull=True)
        .values("submission__question__assignment__title")
        .annotate(count=Count("pk"))
        .order_by("submission__question__assignment__title")
    )
    for row in new_grades:
        count, title = row["count"], row["submission__question__assignment__title"]
        items.append(AttentionItem(count=count, text=f"new grade{'s' if count != 1 else ''} in “{title}”", url=url))
    answered = set(Submission.objects.filter(student=student, is_current=True).values_list("question_id", flat=True))
    for assignment in assignment_list_for_user(user=student):
        waiting = sum(1 for question in assignment.questions.all() if question.pk not in answered)
        if waiting:
            items.append(
                AttentionItem(
                    count=waiting,
                    text=f"question{'s' if waiting != 1 else ''} to answer in “{assignment.title}”",
                    url=f"{url}#assignment-{assignment.pk}",
                )
            )
    return items


def feedback_corrections() -> list[dict[str, Any]]:
    """Reviewed grades whose feedback a teacher rewrote: the machine's text and the teacher's, for training
    (the distillation app reads them: edited = preferred, machine = rejected)."""
    grades = (
        Grade.objects.filter(status__in=Grade.REVIEWED_STATUSES)
        .exclude(feedback="")
        .exclude(model_feedback="")
        .select_related("submission__question")
        .order_by("pk")
    )
    return [
        {
            "question": grade.submission.question.text,
            "reference_answers": list(grade.submission.question.reference_answers or []),
            "answer": grade.submission.answer_text,
            "label": grade.label,
            "feedback": grade.feedback,
            "machine_feedback": grade.model_feedback,
            "was_overridden": grade.was_overridden,
        }
        for grade in grades
        if grade.feedback.strip() != grade.model_feedback.strip()
    ]


def question_grade_count(*, question: Question) -> int:
    """How many of the question's current answers have a grade (the grades an edit of its rubric leaves)."""
    return Grade.objects.filter(submission__question=question, submission__is_current=True).count()


# --- What the grader reads beside the answers it grades, and what it grades --------------------------


def assignment_ungraded_submissions(*, assignment: Assignment) -> list[Submission]:
    """The assignment's current answers without a grade, in question order."""
    return list(
        Submission.objects.filter(question__assignment=assignment, is_current=True, grade__isnull=True)
        .select_related("question", "student")
        .order_by("question__position", "pk")
    )


def assignment_regradable_grades(*, assignment: Assignment) -> list[Grade]:
    """Machine grades no teacher has touched (awaiting review, the model's label, score and feedback) of
    questions with reviewed grades: grading them again lets the grader use what the teacher graded."""
    reviewed_questions = (
        Grade.objects.filter(
            submission__question__assignment=assignment,
            submission__is_current=True,
            status__in=Grade.REVIEWED_STATUSES,
        )
        .values_list("submission__question_id", flat=True)
        .distinct()
    )
    grades = Grade.objects.filter(
        submission__question__assignment=assignment,
        submission__question_id__in=list(reviewed_questions),
        submission__is_current=True,
        status=Grade.Status.AWAITING_REVIEW,
        was_overridden=False,
    ).select_related("submission__question", "submission__student")
    return [
        grade
        for grade in grades.order_by("submission__question__position", "pk")
        if grade.label == grade.model_label
        and grade.score == grade.model_score
        and grade.feedback == grade.model_feedback
    ]


def reviewed_feedback_rows(*, question_ids: list[int]) -> list[tuple[str, str, str, str]]:
    """Teacher-approved feedback on these questions: the examples new feedback is written from."""
    grades = Grade.objects.filter(
        submission__question_id__in=question_ids, status__in=Grade.REVIEWED_STATUSES
    ).select_related("submission__question")
    return [
        (question_text_key(grade.submission.question.text), grade.submission.answer_text, grade.label, grade.feedback)
        for grade in grades
    ]


def reviewed_grading_examples(*, question_ids: list[int]) -> list[GradingExample]:
    """The teachers' reviewed grades of these questions as graded examples: the grader uses them as their
    questions' graded neighbours at once, before any retraining."""
    grades = Grade.objects.filter(
        submission__question_id__in=question_ids, submission__is_current=True, status__in=Grade.REVIEWED_STATUSES
    ).select_related("submission__question")
    examples = []
    for grade in grades.order_by("pk"):
        question = grade.submission.question
        examples.append(
            GradingExample(
                question=question.text,
                reference_answers=list(question.reference_answers),
                answer=grade.submission.answer_text,
                label=grade.label,
                score=float(min(max(grade.score / question.max_points, Decimal(0)), Decimal(1))),
                question_id=question_key(question=question),
            )
        )
    return examples


def peer_examples(*, question_ids: list[int]) -> list[GradingExample]:
    """Every current answer to these questions, unlabelled: the grader reads a batch's answers beside them."""
    submissions = Submission.objects.filter(question_id__in=question_ids, is_current=True).select_related("question")
    return [submission_example(submission=submission) for submission in submissions.order_by("pk")]


def reviewed_examples() -> list[GradingExample]:
    """Teachers' approved and overridden grades, as training data."""
    grades = Grade.objects.filter(status__in=Grade.REVIEWED_STATUSES).select_related("submission__question")
    examples = []
    for grade in grades:
        question = grade.submission.question
        example = GradingExample(
            feedback=grade.feedback,
            question=question.text,
            reference_answers=list(question.reference_answers),
            answer=grade.submission.answer_text,
            label=grade.label,
            score=float(grade.score / question.max_points),
            question_id=question_key(question=question),
        )
        examples.append(example)
    return examples
