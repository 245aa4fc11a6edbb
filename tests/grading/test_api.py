from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import Job
from grading.models import Grade, GradeChange, Submission
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import School
from tests.grading.test_views import answer, grade_state, make_assignment, make_grade, questions_of

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- Assignments ----------------------------------------------------------------------------------------------


def test_assignment_list_is_filtered_by_role_and_paginated(school: School) -> None:
    mine = make_assignment(school.course)
    theirs = make_assignment(school.other_course, title="Other quiz")
    answer(questions_of(mine)[0], school.student)

    for user, expected in (
        (school.student, [mine.pk]),
        (school.teacher, [mine.pk]),
        (school.other_student, [theirs.pk]),
        (school.admin, [mine.pk, theirs.pk]),
    ):
        body = api_for(user).get(reverse("api-grading-assignment-list")).json()
        assert sorted(row["id"] for row in body["results"]) == sorted(expected), user
        assert body["count"] == len(expected)
    row = api_for(school.student).get(reverse("api-grading-assignment-list")).json()["results"][0]
    assert (row["title"], row["course_name"], row["question_count"], row["answer_count"]) == (
        "Networks quiz",
        school.course.name,
        3,
        1,
    )
    filtered = api_for(school.admin).get(reverse("api-grading-assignment-list"), {"course": school.other_course.pk})
    assert [row["id"] for row in filtered.json()["results"]] == [theirs.pk]


def test_students_see_hidden_reference_answers_only_after_release(school: School) -> None:
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    make_grade(answer(q1, school.student), status=Grade.Status.RELEASED)
    make_grade(answer(q2, school.student))
    url = reverse("api-grading-assignment-detail", args=[assignment.pk])

    student_view = api_for(school.student).get(url).json()
    teacher_view = api_for(school.teacher).get(url).json()

    assert [question["reference_answers"] for question in student_view["questions"]] == [
        ["Reference answer 1"],  # released
        None,  # hidden, and not released yet
        ["Reference answer 3"],  # never hidden
    ]
    assert [question["reference_answers"] for question in teacher_view["questions"]] == [
        ["Reference answer 1"],
        ["Reference answer 2"],
        ["Reference answer 3"],
    ]
    assert api_for(school.other_student).get(url).status_code == 404
    assert api_for(school.other_teacher).get(url).json()["error"]["code"] == "not_found"


# --- Submissions ----------------------------------------------------------------------------------------------


def test_student_answers_and_lists_their_own_current_answers(school: School) -> None:
    assignment = make_assignment(school.course)
    q1 = questions_of(assignment)[0]
    classmate = StudentFactory()
    EnrollmentFactory(course=school.course, student=classmate)
    answer(q1, classmate, "Classmate's answer")
    client = api_for(school.student)
    create = reverse("api-grading-submission-create")

    client.post(create, {"question": q1.pk, "answer_text": "First"}, format="json")
    response = client.post(create, {"question": q1.pk, "answer_text": "Second"}, format="json")

    assert response.status_code == 201
    assert {key: response.json()[key] for key in ("question", "question_position", "answer_text", "is_current")} == {
        "question": q1.pk,
        "question_position": 1,
        "answer_text": "Second",
        "is_current": True,
    }
    listed = client.get(reverse("api-grading-submission-list")).json()
    assert [row["answer_text"] for row in listed["results"]] == ["Second"]
    assert Submission.objects.filter(student=school.student).count() == 2


def test_bad_answers_get_the_error_format_and_store_nothing(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    other_question = questions_of(make_assignment(school.other_course, title="Other"))[0]
    client = api_for(school.student)
    create = reverse("api-grading-submission-create")

    empty = client.post(create, {"question": question.pk, "answer_text": "  "}, format="json")
    missing = client.post(create, {"question": question.pk}, format="json")
    elsewhere = client.post(create, {"question": other_question.pk, "answer_text": "Hi"}, format="json")

    assert empty.status_code == 400
    assert empty.json() == {
        "error": {"code": "answer_empty", "message": "The answer is empty. Write your answer before submitting."}
    }
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "answer_text: This field is required."
    assert elsewhere.status_code == 404
    assert Submission.objects.count() == 0


def test_released_answers_are_closed(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    make_grade(answer(question, school.student, "Final"), status=Grade.Status.RELEASED)
    response = api_for(school.student).post(
        reverse("api-grading-submission-create"), {"question": question.pk, "answer_text": "Changed"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "answers_closed"
    assert list(Submission.objects.values_list("answer_text", flat=True)) == ["Final"]


def test_teachers_do_not_submit_or_list_answers(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    client = api_for(school.teacher)
    created = client.post(
        reverse("api-grading-submission-create"), {"question": question.pk, "answer_text": "x"}, format="json"
    )
    assert created.status_code == 403
    assert created.json()["error"]["message"] == "Only students may use this endpoint."
    assert client.get(reverse("api-grading-submission-list")).status_code == 403
    assert client.get(reverse("api-grading-grades-released")).status_code == 403
    assert Submission.objects.count() == 0


# --- Grades ------------------------------------------------------------------------------------------------------


@pytest.fixture
def graded(school: School):
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    grades = [
        make_grade(answer(q1, school.student, "Answer one"), confidence=0.8),
        make_grade(answer(q2, school.student, "Answer two"), label="incorrect", confidence=0.1),
    ]
    return assignment, grades


def test_teacher_lists_grades_least_confident_first_with_filters(school: School, graded) -> None:
    assignment, (sure, unsure) = graded
    client = api_for(school.teacher)
    url = reverse("api-grading-assignment-grades", args=[assignment.pk])

    body = client.get(url).json()

    assert [row["id"] for row in body["results"]] == [unsure.pk, sure.pk]
    first = body["results"][0]
    assert (first["student"], first["question_position"], first["label"], first["score"], first["max_points"]) == (
        school.student.username,
        2,
        "incorrect",
        "0.00",
        "2.00",
    )
    assert first["provenance"] == {"grader_version": "test"}
    assert [row["id"] for row in client.get(url, {"label": "correct"}).json()["results"]] == [sure.pk]
    assert [row["id"] for row in client.get(url, {"question": sure.submission.question_id}).json()["results"]] == [
        sure.pk
    ]
    assert client.get(url, {"status": "released"}).json()["count"] == 0
    bad = client.get(url, {"label": "great"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == 'label: "great" is not a valid choice.'


def test_accept_and_override(school: School, graded) -> None:
    _, (sure, unsure) = graded
    client = api_for(school.teacher)

    accepted = client.post(reverse("api-grading-grade-accept", args=[sure.pk])).json()
    overridden = client.post(
        reverse("api-grading-grade-override", args=[unsure.pk]),
        {"label": "partially_correct", "score": "1.5", "feedback": "Nearly: name the layer."},
        format="json",
    ).json()

    assert (accepted["status"], accepted["reviewer"]) == ("approved", school.teacher.username)
    assert {
        key: overridden[key] for key in ("label", "score", "feedback", "status", "model_label", "was_overridden")
    } == {
        "label": "partially_correct",
        "score": "1.50",
        "feedback": "Nearly: name the layer.",
        "status": "overridden",
        "model_label": "incorrect",
        "was_overridden": True,
    }


def test_override_errors_are_clear_and_change_nothing(school: School, graded) -> None:
    _, (sure, _) = graded
    client = api_for(school.teacher)
    url = reverse("api-grading-grade-override", args=[sure.pk])
    before = grade_state(sure)

    too_high = client.post(url, {"label": "correct", "score": "5"}, format="json")
    unknown = client.post(url, {"label": "great"}, format="json")

    assert too_high.status_code == 400
    assert too_high.json()["error"] == {
        "code": "score_out_of_range",
        "message": "The score must be between 0 and 2.00.",
    }
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == 'label: "great" is not a valid choice.'
    assert grade_state(sure) == before


def test_wrong_roles_cannot_review_release_or_grade_and_nothing_changes(school: School, graded) -> None:
    assignment, (sure, _) = graded
    make_grade(answer(questions_of(assignment)[2], school.student), status=Grade.Status.APPROVED)
    before = [grade_state(grade) for grade in Grade.objects.all()]
    changes = GradeChange.objects.count()
    calls = [
        ("get", reverse("api-grading-assignment-grades", args=[assignment.pk]), {}),
        ("post", reverse("api-grading-grade-accept", args=[sure.pk]), {}),
        ("post", reverse("api-grading-grade-override", args=[sure.pk]), {"label": "incorrect"}),
        ("post", reverse("api-grading-assignment-release", args=[assignment.pk]), {}),
        ("post", reverse("api-grading-assignment-grade", args=[assignment.pk]), {}),
    ]
    for user, status in ((school.student, 403), (school.other_student, 403), (school.other_teacher, 404)):
        client = api_for(user)
        for method, url, data in calls:
            response = getattr(client, method)(url, data, format="json")
            assert response.status_code == status, (user, url)
            assert "error" in response.json()
    assert [grade_state(grade) for grade in Grade.objects.all()] == before
    assert GradeChange.objects.count() == changes
    assert Job.objects.count() == 0


def test_release_then_the_student_sees_only_their_released_grades(school: School, graded) -> None:
    assignment, (sure, unsure) = graded
    classmate = StudentFactory()
    EnrollmentFactory(course=school.course, student=classmate)
    make_grade(answer(questions_of(assignment)[0], classmate), status=Grade.Status.RELEASED, feedback="Not yours")
    api_for(school.teacher).post(reverse("api-grading-grade-accept", args=[sure.pk]))

    released = api_for(school.teacher).post(reverse("api-grading-assignment-release", args=[assignment.pk]))

    assert released.json() == {"released": 1}
    body = api_for(school.student).get(reverse("api-grading-grades-released")).json()
    assert [row["id"] for row in body["results"]] == [sure.pk]
    row = body["results"][0]
    assert (row["label"], row["score"], row["max_points"], row["feedback"], row["assignment_title"]) == (
        "correct",
        "2.00",
        "2.00",
        "Well explained.",
        "Networks quiz",
    )
    assert "provenance" not in row and "confidence" not in row
    unsure.refresh_from_db()
    assert unsure.status == Grade.Status.AWAITING_REVIEW


def test_grading_start_needs_an_active_grader(school: School) -> None:
    assignment = make_assignment(school.course)
    response = api_for(school.teacher).post(reverse("api-grading-assignment-grade", args=[assignment.pk]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "grader_not_ready"
    assert response.json()["error"]["message"].startswith("No grader is active yet, so answers cannot be graded.")
    assert Job.objects.count() == 0


def test_grading_start_answers_202_with_the_job(school: School, active_grader) -> None:
    assignment = make_assignment(school.course)
    response = api_for(school.teacher).post(reverse("api-grading-assignment-grade", args=[assignment.pk]))
    assert response.status_code == 202
    job = Job.objects.get()
    assert (response.json()["id"], response.json()["kind"], response.json()["status"]) == (
        str(job.pk),
        "grading.assignment",
        "queued",
    )


# --- Query counts and the schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("students", [1, 5])
def test_list_endpoints_do_not_grow_with_rows(school: School, django_assert_max_num_queries, students) -> None:
    assignment = make_assignment(school.course)
    for number in range(2):
        make_assignment(school.course, title=f"Quiz {number}")
    for index in range(students):
        student = school.student
        if index:
            student = StudentFactory()
            EnrollmentFactory(course=school.course, student=student)
        for question in questions_of(assignment):
            make_grade(answer(question, student), status=Grade.Status.RELEASED)
    teacher, student = api_for(school.teacher), api_for(school.student)
    checks = [
        (teacher, reverse("api-grading-assignment-list")),
        (teacher, reverse("api-grading-assignment-grades", args=[assignment.pk])),
        (student, reverse("api-grading-assignment-list")),
        (student, reverse("api-grading-submission-list")),
        (student, reverse("api-grading-grades-released")),
    ]
    for client, url in checks:
        with django_assert_max_num_queries(4):
            assert client.get(url).status_code == 200


def test_the_schema_documents_the_grading_endpoints(school: School) -> None:
    schema = api_for(school.teacher).get(reverse("api-schema"), {"format": "json"}).json()
    for path in (
        "/api/grading/assignments/",
        "/api/grading/assignments/{assignment_id}/",
        "/api/grading/assignments/{assignment_id}/grade/",
        "/api/grading/assignments/{assignment_id}/grades/",
        "/api/grading/assignments/{assignment_id}/release/",
        "/api/grading/grades/{grade_id}/accept/",
        "/api/grading/grades/{grade_id}/override/",
        "/api/grading/grades/released/",
        "/api/grading/submissions/",
        "/api/grading/submissions/create/",
    ):
        assert path in schema["paths"], path
