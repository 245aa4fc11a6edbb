from __future__ import annotations

import pytest
from django.urls import reverse

from coaching.reflection.models import BankQuestion, QuestionAssignment
from datasets_admin.demo import DEMO_COURSE_CODE, DEMO_PASSWORD, DEMO_REFLECTION_QUESTION, demo_seed

pytestmark = pytest.mark.django_db


def test_the_demo_assigns_one_reflection_question_that_students_see_at_once(client) -> None:
    demo_seed()
    demo_seed()  # idempotent

    question = BankQuestion.objects.get()
    assert question.text == DEMO_REFLECTION_QUESTION
    assignment = QuestionAssignment.objects.get()
    assert assignment.course.code == DEMO_COURSE_CODE
    assert client.login(username="ada", password=DEMO_PASSWORD)
    fragment = client.get(reverse("reflection:assigned") + "?fragment=1").content.decode()
    assert DEMO_REFLECTION_QUESTION in fragment
