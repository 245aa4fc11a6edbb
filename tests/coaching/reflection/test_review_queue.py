"""Students' answers to a reflection question go to the grading review queue through core.review_queue
(coaching does not import grading): a short-answer question without a reference, one current submission per
student; sending again adds nothing that did not change; another course's teacher gets a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from coaching.reflection.models import QuestionAssignment
from coaching.reflection.services import answer_submit, answers_send_to_review
from core.errors import ApplicationError
from core.review_queue import ReviewRequest, review_queue_send
from grading.models import Question, Submission
from tests.coaching.reflection.conftest import GOOD
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_teacher_sends_the_answers_to_the_grading_review_queue(school, assignment: QuestionAssignment) -> None:
    text = "Sunlight gives chlorophyll the energy to make glucose."
    answer_submit(user=school.student, assignment=assignment, text=text)
    client = client_for(school.teacher)

    response = client.post(reverse("reflection:assignment_review", args=[assignment.pk]), follow=True)

    assert response.status_code == 200
    assert "Sent 1 answer to the grading review queue." in response.content.decode()
    question = Question.objects.get(source=f"reflection:assignment:{assignment.pk}")
    assert question.text == GOOD["question"]
    assert question.reference_answers == []  # reviewed by the teacher, not graded against a reference
    assert question.assignment.course == school.course
    submission = Submission.objects.get(question=question, is_current=True)
    assert (submission.student, submission.answer_text) == (school.student, text)
    assignment.refresh_from_db()
    assert assignment.review_handoff["question_id"] == question.pk
    assert assignment.review_handoff["url"] == reverse("grading:assignment_detail", args=[question.assignment_id])
    assert 'href="{}"'.format(assignment.review_handoff["url"]) in response.content.decode()

    # Again, unchanged: nothing new; after the student edits the answer, the new text becomes current.
    answers_send_to_review(user=school.teacher, assignment=assignment)
    assert Submission.objects.filter(question=question).count() == 1
    answer_submit(user=school.student, assignment=assignment, text="Without sunlight there is no glucose.")
    answers_send_to_review(user=school.teacher, assignment=assignment)
    current = Submission.objects.get(question=question, is_current=True)
    assert current.answer_text == "Without sunlight there is no glucose."
    assert Question.objects.filter(source=f"reflection:assignment:{assignment.pk}").count() == 1


def test_no_answers_is_a_message_and_another_teacher_gets_404(school, assignment: QuestionAssignment) -> None:
    with pytest.raises(ApplicationError, match=r"There are no answers to send to the review queue yet\."):
        answers_send_to_review(user=school.teacher, assignment=assignment)
    answer_submit(user=school.student, assignment=assignment, text="Because the leaf needs light.")

    response = client_for(school.other_teacher).post(reverse("reflection:assignment_review", args=[assignment.pk]))

    assert response.status_code == 404
    assert not Question.objects.filter(source__startswith="reflection:").exists()


def test_without_a_receiver_the_seam_says_so(settings) -> None:
    settings.REVIEW_QUEUE_RECEIVER = ""
    request = ReviewRequest(course_id=1, title="t", question_text="q", answers=(), requested_by_id=1, source="s")
    with pytest.raises(ApplicationError, match="No grading review queue is installed"):
        review_queue_send(request=request)


def test_the_api_sends_the_answers_and_refuses_students(school, assignment: QuestionAssignment) -> None:
    answer_submit(user=school.student, assignment=assignment, text="Light powers the leaf.")
    url = f"/api/coaching/questions/assignments/{assignment.pk}/review/"

    assert client_for(school.student).post(url).status_code == 403
    response = client_for(school.teacher).post(url)

    assert response.status_code == 200
    body = response.json()
    assert body["submissions"] == 1
    assert Submission.objects.get(question_id=body["question_id"]).answer_text == "Light powers the leaf."
    assert client_for(school.other_teacher).post(url).status_code == 404
