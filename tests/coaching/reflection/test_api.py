from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment
from core.models import Job
from tests.accounts.factories import PASSWORD
from tests.coaching.reflection.conftest import GOOD, finished_dialogue

pytestmark = pytest.mark.django_db

BASE = "/api/coaching/questions"


def api_for(user) -> APIClient:
    client = APIClient()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def body(**overrides):
    return {"course": 0, "topic": "Photosynthesis", "concepts": ["chlorophyll", "sunlight"], "level": "year 7",
            "max_rounds": 2, **overrides}  # fmt: skip


def test_generate_starts_a_job_and_the_dialogue_reads_back(school, django_capture_on_commit_callbacks) -> None:
    client = api_for(school.teacher)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"{BASE}/dialogues/", body(course=school.course.pk), format="json")

    assert response.status_code == 202
    dialogue = Dialogue.objects.get()
    assert response.json()["dialogue"] == dialogue.pk
    assert response.json()["job"]["kind"] == "reflection.generate"
    read = client.get(f"{BASE}/dialogues/{dialogue.pk}/").json()
    assert (read["status"], read["concepts"], read["rounds"], read["max_rounds"]) == (
        "queued", ["chlorophyll", "sunlight"], [], 2,
    )  # fmt: skip
    assert client.get(f"{BASE}/dialogues/").json()["count"] == 1


def test_generate_refuses_bad_input_with_the_error_shape_and_stores_nothing(school) -> None:
    client = api_for(school.teacher)

    no_concepts = client.post(f"{BASE}/dialogues/", body(course=school.course.pk, concepts=[]), format="json")
    long_topic = client.post(f"{BASE}/dialogues/", body(course=school.course.pk, topic="x" * 5000), format="json")
    other_course = client.post(f"{BASE}/dialogues/", body(course=school.other_course.pk), format="json")
    bad_filter = client.get(f"{BASE}/dialogues/?course=abc")

    assert no_concepts.status_code == 400
    assert no_concepts.json() == {"error": {"code": "invalid", "message": "Give at least one key concept (separate several with commas).",  # noqa: E501
                                            "fields": {"concepts": "Give at least one key concept (separate several with commas)."}}}  # fmt: skip # noqa: E501
    assert long_topic.status_code == 400
    assert long_topic.json()["error"]["fields"]["topic"].startswith("The topic has 5,000 characters")
    assert other_course.status_code == 404
    assert bad_filter.status_code == 400
    assert Dialogue.objects.count() == 0
    assert Job.objects.count() == 0


def test_students_get_403_and_other_teachers_404_and_nothing_changes(school) -> None:
    dialogue = finished_dialogue(school)
    student, other = api_for(school.student), api_for(school.other_teacher)

    assert student.post(f"{BASE}/dialogues/", body(course=school.course.pk), format="json").status_code == 403
    assert student.get(f"{BASE}/dialogues/{dialogue.pk}/").status_code == 403
    assert student.post(f"{BASE}/bank/", {"dialogue": dialogue.pk, "text": "x?"}, format="json").status_code == 403
    assert other.get(f"{BASE}/dialogues/{dialogue.pk}/").status_code == 404
    assert other.post(f"{BASE}/bank/", {"dialogue": dialogue.pk, "text": "x?"}, format="json").status_code == 404
    assert other.get(f"{BASE}/bank/").json()["count"] == 0
    assert BankQuestion.objects.count() == 0


def test_bank_assignments_and_answers_round_trip(school) -> None:
    dialogue = finished_dialogue(school)
    teacher, student = api_for(school.teacher), api_for(school.student)

    saved = teacher.post(
        f"{BASE}/bank/", {"dialogue": dialogue.pk, "text": GOOD["question"], "rating": 5}, format="json"
    )
    assert saved.status_code == 201
    question_id = saved.json()["id"]
    assert (saved.json()["rating"], saved.json()["is_edited"]) == (5, False)
    bad_rating = teacher.patch(f"{BASE}/bank/{question_id}/", {"text": "Why?", "rating": 0}, format="json")
    assert bad_rating.status_code == 400
    assert teacher.get(f"{BASE}/bank/").json()["count"] == 1

    due = (timezone.now() + datetime.timedelta(days=5)).isoformat()
    assigned = teacher.post(f"{BASE}/assignments/", {"question": question_id, "due_at": due}, format="json")
    assert assigned.status_code == 201
    assignment_id = assigned.json()["id"]
    assert (
        student.post(f"{BASE}/assignments/", {"question": question_id, "due_at": due}, format="json").status_code == 403
    )

    listed = student.get(f"{BASE}/assignments/").json()
    assert [(item["id"], item["question_text"], item["answer_count"]) for item in listed["results"]] == [
        (assignment_id, GOOD["question"], 0)
    ]
    assert api_for(school.other_student).get(f"{BASE}/assignments/").json()["count"] == 0
    assert (
        api_for(school.other_student)
        .post(f"{BASE}/assignments/{assignment_id}/answers/", {"text": "Not mine"}, format="json")
        .status_code
        == 404
    )
    assert teacher.post(f"{BASE}/assignments/{assignment_id}/answers/", {"text": "T"}, format="json").status_code == 403

    answered = student.post(f"{BASE}/assignments/{assignment_id}/answers/", {"text": "Light to sugar."}, format="json")
    assert answered.status_code == 201
    answers = teacher.get(f"{BASE}/assignments/{assignment_id}/answers/").json()
    assert [(item["student"], item["text"]) for item in answers["results"]] == [
        (school.student.username, "Light to sugar.")
    ]
    assert Answer.objects.count() == 1
    assert QuestionAssignment.objects.count() == 1


def test_the_endpoints_are_in_the_openapi_schema(school) -> None:
    schema = api_for(school.teacher).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path in ("/dialogues/", "/dialogues/{dialogue_id}/", "/bank/", "/bank/{question_id}/", "/assignments/",
                 "/assignments/{assignment_id}/answers/"):  # fmt: skip
        assert f"{BASE}{path}" in schema["paths"]
