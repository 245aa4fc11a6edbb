"""The grading side of core.review_queue: answers another app sends (the reflection questions) become a
short-answer question without a reference in an assignment of the course, one current submission per student,
for the teacher to review. Wired by the setting REVIEW_QUEUE_RECEIVER; no grading job is started."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from accounts.models import Course
from accounts.permissions import course_is_taught_by
from core.errors import NotFoundError, PermissionDeniedError
from core.review_queue import ReviewHandoff, ReviewRequest
from grading.models import Assignment, Question, Submission
from grading.services import question_create, submission_create


@transaction.atomic
def review_request_receive(request: ReviewRequest) -> ReviewHandoff:
    course = Course.objects.filter(pk=request.course_id).first()
    teacher = get_user_model().objects.filter(pk=request.requested_by_id).first()
    if course is None or teacher is None:
        raise NotFoundError("The course or the teacher of these answers no longer exists.")
    if not course_is_taught_by(course=course, user=teacher):
        raise PermissionDeniedError("Only the course's teachers can send answers to its review queue.")
    assignment, _created = Assignment.objects.get_or_create(
        course=course,
        title=request.title[:200],
        defaults={"description": f"Answers sent for review ({request.source}).", "created_by": teacher},
    )
    question = Question.objects.filter(assignment=assignment, source=request.source[:200]).first()
    if question is None:
        # No reference answer: the teacher reviews the answers; nothing grades them by machine.
        question = question_create(
            assignment=assignment,
            text=request.question_text,
            reference_answers=[],
            source=request.source[:200],
            requires_reference=False,
        )
    students = get_user_model().objects.in_bulk([answer.student_id for answer in request.answers])
    current = dict(
        Submission.objects.filter(question=question, is_current=True).values_list("student_id", "answer_text")
    )
    for answer in request.answers:
        student = students.get(answer.student_id)
        if student is not None and current.get(answer.student_id) != answer.text.strip():
            submission_create(question=question, student=student, answer_text=answer.text)
    return ReviewHandoff(
        assignment_id=assignment.pk,
        question_id=question.pk,
        submissions=Submission.objects.filter(question=question, is_current=True).count(),
        url=reverse("grading:assignment_detail", args=[assignment.pk]),
    )
