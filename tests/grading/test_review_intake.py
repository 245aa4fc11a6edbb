"""Answers another app sends to the review queue (core.review_queue; the reflection questions do) become a
question without a reference; "Grade all answers" then gives the teacher grades to review in the queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.review_queue import ReviewAnswer, ReviewRequest, review_queue_send
from grading.models import Grade, Submission
from grading.services import submissions_grade
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_answers_sent_without_a_reference_are_graded_and_reach_the_review_queue(school, active_grader) -> None:
    handoff = review_queue_send(
        request=ReviewRequest(
            course_id=school.course.pk,
            title="Reflection: photosynthesis",
            question_text="Why does a plant kept in the dark stop making glucose?",
            answers=(ReviewAnswer(student_id=school.student.pk, text="Without light there is no energy for it."),),
            requested_by_id=school.teacher.pk,
            source="test:1",
        )
    )
    submissions = list(Submission.objects.filter(question_id=handoff.question_id, is_current=True))

    [grade] = submissions_grade(submissions=submissions)

    assert grade.status == Grade.Status.AWAITING_REVIEW
    response = client_for(school.teacher).get(reverse("grading:review", args=[handoff.assignment_id]))
    assert response.status_code == 200
    assert "Without light there is no energy for it." in response.content.decode()
