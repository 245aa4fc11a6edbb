from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from core.models import Job
from grading.models import Assignment, Grade, GradeChange, Question, Submission
from grading.services import DEFAULT_FRACTION, assignment_create, question_create, submission_create
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- Helpers (test_api.py and test_importers.py use them too) ---------------------------------------


def make_assignment(course, *, title: str = "Networks quiz", questions: int = 3) -> Assignment:
    """An assignment of `questions` questions worth 2 points; the last one shows its reference answers."""
    assignment = assignment_create(course=course, title=title, description="Short answers.")
    for number in range(1, questions + 1):
        question = question_create(
            assignment=assignment,
            text=f"Question {number}: what does layer {number} do?",
            reference_answers=[f"Reference answer {number}"],
            max_points=Decimal("2"),
        )
        if number == questions and questions > 1:
            Question.objects.filter(pk=question.pk).update(is_reference_hidden=False)
    return assignment


def make_grade(
    submission: Submission,
    *,
    label: str = "correct",
    confidence: float = 0.5,
    status: str = Grade.Status.AWAITING_REVIEW,
    feedback: str = "Well explained.",
) -> Grade:
    """A grade as the grader would write it, without running the model: exact values for exact tests."""
    score = (DEFAULT_FRACTION[label] * submission.question.max_points).quantize(Decimal("0.01"))
    grade = Grade.objects.create(
        submission=submission,
        label=label,
        score=score,
        feedback=feedback,
        confidence=confidence,
        model_label=label,
        model_score=score,
        model_feedback=feedback,
        provenance={"grader_version": "test"},
        status=status,
    )
    GradeChange.objects.create(grade=grade, action=GradeChange.Action.MACHINE_GRADED, after={"label": label})
    return grade


def answer(question: Question, student, text: str = "It forwards packets.") -> Submission:
    return submission_create(question=question, student=student, answer_text=text)


def questions_of(assignment: Assignment) -> list[Question]:
    return list(assignment.questions.order_by("position"))


def grade_state(grade: Grade) -> tuple:
    grade.refresh_from_db()
    return (grade.label, grade.score, grade.feedback, grade.status, grade.reviewer_id)


# --- The index ----------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in(db: None) -> None:
    from django.test import Client

    response = Client().get(reverse("grading:index"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_teacher_index_counts_answers_of_taught_courses_only(school: School) -> None:
    assignment = make_assignment(school.course)
    make_assignment(school.other_course, title="Someone else's quiz")
    q1, q2, q3 = questions_of(assignment)
    second_student = StudentFactory()
    EnrollmentFactory(course=school.course, student=second_student)
    make_grade(answer(q1, school.student), status=Grade.Status.RELEASED)
    make_grade(answer(q2, school.student), status=Grade.Status.APPROVED)
    make_grade(answer(q1, second_student))
    answer(q3, school.student)  # not graded yet

    page = client_for(school.teacher).get(reverse("grading:index")).content.decode()

    assert "Networks quiz" in page
    assert "Someone else" not in page
    assert re.search(r'data-testid="answers">4<', page)
    assert re.search(r'data-testid="graded">3<', page)
    assert re.search(r'data-testid="awaiting">1<', page)
    assert re.search(r'data-testid="released">1<', page)


def test_student_sees_questions_their_answers_and_only_released_grades(school: School) -> None:
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    classmate = StudentFactory()
    EnrollmentFactory(course=school.course, student=classmate)
    make_grade(answer(q1, school.student, "My pending answer"), feedback="Pending feedback, not yet released.")
    make_grade(
        answer(q2, school.student, "My released answer"),
        label="partially_correct",
        status=Grade.Status.RELEASED,
        feedback="<script>alert(1)</script> Name the layer.",
    )
    make_grade(answer(q2, classmate, "Classmate answer"), status=Grade.Status.RELEASED, feedback="Classmate feedback")

    page = client_for(school.student).get(reverse("grading:index")).content.decode()

    assert "My pending answer" in page  # the stored answer, in its form
    assert "Pending feedback" not in page
    assert "Partially correct" in page
    assert "1 / 2" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Name the layer." in page
    assert "<script>alert(1)" not in page
    assert "Classmate" not in page
    # Hidden reference answers appear only once the student's grade is released.
    assert "Reference answer 1" not in page
    assert "Reference answer 2" in page
    assert "Reference answer 3" in page  # this question never hides them


def test_student_answer_by_htmx_replaces_the_current_and_keeps_the_earlier(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    client = client_for(school.student)
    url = reverse("grading:answer_submit", args=[question.pk])
    field = f"q{question.pk}-answer"

    first = client.post(url, {field: "First try"}, **HTMX)
    second = client.post(url, {field: "Second try"}, **HTMX)

    assert first.status_code == second.status_code == 200
    fragment = second.content.decode()
    assert "<html" not in fragment
    assert f'id="question-{question.pk}"' in fragment
    assert "Second try" in fragment
    assert "Saved just now." in fragment
    rows = list(Submission.objects.filter(student=school.student).order_by("submitted_at", "pk"))
    assert [(row.answer_text, row.is_current) for row in rows] == [("First try", False), ("Second try", True)]


def test_student_answer_without_htmx_redirects_with_a_message(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    response = client_for(school.student).post(
        reverse("grading:answer_submit", args=[question.pk]), {f"q{question.pk}-answer": "Plain post"}, follow=True
    )
    assert "Your answer to question 1 is saved." in response.content.decode()


def test_bad_answers_are_refused_with_a_fragment_and_nothing_stored(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    client = client_for(school.student)
    url = reverse("grading:answer_submit", args=[question.pk])

    empty = client.post(url, {f"q{question.pk}-answer": "   "}, **HTMX)
    huge = client.post(url, {f"q{question.pk}-answer": "x" * 10_001}, **HTMX)

    # 422: the question's fragment again, the message at the field (issue 17; test_pages_input.py).
    assert empty.status_code == 422
    assert "The answer is empty. Write your answer before submitting." in empty.content.decode()
    assert 'data-testid="answer-error"' in empty.content.decode()
    assert huge.status_code == 422
    assert "The answer is 10,001 characters long; the limit is 10,000." in huge.content.decode()
    assert Submission.objects.count() == 0


def test_answers_close_once_the_grade_is_released(school: School) -> None:
    question = questions_of(make_assignment(school.course))[0]
    make_grade(answer(question, school.student, "Released answer"), status=Grade.Status.RELEASED)
    response = client_for(school.student).post(
        reverse("grading:answer_submit", args=[question.pk]), {f"q{question.pk}-answer": "Changed my mind"}, **HTMX
    )
    assert response.status_code == 409
    assert "answers to this question are closed" in response.content.decode()
    assert list(Submission.objects.values_list("answer_text", flat=True)) == ["Released answer"]


def test_nobody_answers_a_question_outside_their_courses(school: School) -> None:
    other_question = questions_of(make_assignment(school.other_course))[0]
    url = reverse("grading:answer_submit", args=[other_question.pk])
    assert client_for(school.student).post(url, {"answer": "Let me in"}, **HTMX).status_code == 404
    assert client_for(school.other_teacher).post(url, {"answer": "Teachers do not answer"}).status_code == 403
    assert Submission.objects.count() == 0


# --- The assignment page --------------------------------------------------------------------------------


def test_assignment_page_has_questions_counts_chart_data_and_no_inline_script(school: School) -> None:
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    make_grade(answer(q1, school.student), label="incorrect", confidence=0.25, status=Grade.Status.APPROVED)
    make_grade(answer(q2, school.student), label="correct", confidence=0.75)

    response = client_for(school.teacher).get(reverse("grading:assignment_detail", args=[assignment.pk]))
    page = response.content.decode()

    assert response.status_code == 200
    assert "Question 1: what does layer 1 do?" in page
    assert "Reference answer 1" in page
    chart = json.loads(re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', page).group(1))
    assert chart["questions"] == ["Q1", "Q2"]
    assert chart["per_question"]["correct"] == [0, 1]
    assert chart["confidences"] == [0.25, 0.75]
    assert chart["reviewed"] == 1
    assert "vendor/plotly/plotly.min.js" in page
    assert "js/grading.js" in page
    # Every script is a file or JSON data: the policy allows no inline code.
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert reverse("grading:assignment_export", args=[assignment.pk]) in page
    assert reverse("grading:review", args=[assignment.pk]) in page


def test_grade_all_without_an_active_grader_says_so_and_starts_nothing(school: School) -> None:
    assignment = make_assignment(school.course)
    client = client_for(school.teacher)
    page = client.get(reverse("grading:assignment_detail", args=[assignment.pk])).content.decode()
    assert "No grader is active yet, so answers cannot be graded." in page

    response = client.post(reverse("grading:assignment_grade", args=[assignment.pk]), **HTMX)

    assert response.status_code == 409
    assert "No grader is active yet, so answers cannot be graded." in response.content.decode()
    assert Job.objects.count() == 0


def test_grade_all_starts_a_job_and_shows_its_progress(school: School, active_grader) -> None:
    assignment = make_assignment(school.course)
    answer(questions_of(assignment)[0], school.student)
    client = client_for(school.teacher)

    response = client.post(reverse("grading:assignment_grade", args=[assignment.pk]), **HTMX)

    job = Job.objects.get()
    assert (job.kind, job.params, job.created_by) == (
        "grading.assignment",
        {"assignment_id": assignment.pk},
        school.teacher,
    )
    fragment = response.content.decode()
    assert response.status_code == 200
    assert 'id="job-status"' in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert reverse("core:job_cancel", args=[job.pk]) in fragment
    # The page shows the running job on a reload, and a second start is refused while it runs.
    page = client.get(reverse("grading:assignment_detail", args=[assignment.pk])).content.decode()
    assert 'id="job-status"' in page
    again = client.post(reverse("grading:assignment_grade", args=[assignment.pk]), follow=True)
    assert "is already queued or running" in again.content.decode()
    assert Job.objects.count() == 1


def test_grade_all_without_htmx_redirects_to_the_job_page(school: School, active_grader) -> None:
    assignment = make_assignment(school.course)
    response = client_for(school.admin).post(reverse("grading:assignment_grade", args=[assignment.pk]))
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("core:job_detail", args=[job.pk])


def test_release_shows_reviewed_grades_to_students(school: School) -> None:
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    approved = make_grade(answer(q1, school.student), status=Grade.Status.APPROVED)
    pending = make_grade(answer(q2, school.student))

    response = client_for(school.teacher).post(reverse("grading:assignment_release", args=[assignment.pk]), follow=True)

    assert "Released 1 grade to students." in response.content.decode()
    approved.refresh_from_db()
    pending.refresh_from_db()
    assert (approved.status, pending.status) == (Grade.Status.RELEASED, Grade.Status.AWAITING_REVIEW)


def test_retrain_starts_the_training_job(school: School) -> None:
    response = client_for(school.admin).post(reverse("grading:grader_retrain"))
    job = Job.objects.get()
    assert (job.kind, job.title, job.unique_key) == ("grading.retrain", "Retrain the grader", "grading.retrain")
    assert response["Location"] == reverse("core:job_detail", args=[job.pk])
    # A second retraining while the first is queued is refused with a message; nothing else starts.
    client = client_for(school.admin)
    response = client.post(reverse("grading:grader_retrain"), follow=True)
    assert Job.objects.count() == 1
    assert response.redirect_chain[0][0] == reverse("grading:index")
    assert "“Retrain the grader” is already queued or running" in response.content.decode()


def test_students_may_not_use_teacher_pages_and_nothing_changes(school: School) -> None:
    assignment = make_assignment(school.course)
    grade = make_grade(answer(questions_of(assignment)[0], school.student), status=Grade.Status.APPROVED)
    client = client_for(school.student)
    pages = [
        reverse("grading:assignment_detail", args=[assignment.pk]),
        reverse("grading:review", args=[assignment.pk]),
        reverse("grading:assignment_export", args=[assignment.pk]),
        reverse("grading:assignment_import", args=[assignment.pk]),
    ]
    for url in pages:
        assert client.get(url).status_code == 403, url
    posts = [
        reverse("grading:assignment_grade", args=[assignment.pk]),
        reverse("grading:assignment_release", args=[assignment.pk]),
        reverse("grading:grader_retrain"),
        reverse("grading:grade_accept", args=[grade.pk]),
        reverse("grading:grade_override", args=[grade.pk]),
        reverse("grading:grade_feedback", args=[grade.pk]),
        reverse("grading:group_accept", args=[assignment.pk]),
    ]
    before = grade_state(grade)
    for url in posts:
        assert client.post(url, {"label": "incorrect", "feedback": "x", "grade": [grade.pk]}).status_code == 403, url
    assert grade_state(grade) == before
    assert Job.objects.count() == 0


def test_teachers_of_other_courses_get_404_and_nothing_changes(school: School) -> None:
    assignment = make_assignment(school.course)
    grade = make_grade(answer(questions_of(assignment)[0], school.student), status=Grade.Status.APPROVED)
    client = client_for(school.other_teacher)
    for name in ("assignment_detail", "review", "assignment_export", "assignment_import"):
        assert client.get(reverse(f"grading:{name}", args=[assignment.pk])).status_code == 404, name
    for name in ("assignment_grade", "assignment_release", "group_accept", "group_relabel"):
        response = client.post(reverse(f"grading:{name}", args=[assignment.pk]), {"grade": [grade.pk]})
        assert response.status_code == 404, name
    before = grade_state(grade)
    for name in ("grade_accept", "grade_override", "grade_feedback"):
        response = client.post(reverse(f"grading:{name}", args=[grade.pk]), {"label": "incorrect", "feedback": "x"})
        assert response.status_code == 404, name
    assert grade_state(grade) == before
    assert Job.objects.count() == 0


# --- The review queue -------------------------------------------------------------------------------------


@pytest.fixture
def queue(school: School):
    """Three grades of one assignment with known confidences, and a grade of another course."""
    assignment = make_assignment(school.course)
    q1, q2, _ = questions_of(assignment)
    classmate = StudentFactory(first_name="Cleo", last_name="Classmate")
    EnrollmentFactory(course=school.course, student=classmate)
    grades = {
        "sure": make_grade(answer(q1, school.student, "Routing between networks."), confidence=0.9),
        "unsure": make_grade(
            answer(q2, school.student, "Something about cables."), label="incorrect", confidence=0.2, feedback=""
        ),
        "middle": make_grade(answer(q1, classmate, "It moves frames."), label="partially_correct", confidence=0.5),
    }
    return assignment, grades


def test_review_queue_lists_least_confident_first(school: School, queue) -> None:
    assignment, grades = queue
    page = client_for(school.teacher).get(reverse("grading:review", args=[assignment.pk])).content.decode()
    order = [int(pk) for pk in re.findall(r'<article id="grade-(\d+)"', page)]
    assert order == [grades["unsure"].pk, grades["middle"].pk, grades["sure"].pk]
    assert "Something about cables." in page
    assert "20% sure" in page
    assert "No feedback." in page
    assert 'id="review-filters"' in page
    assert 'hx-boost="true"' in page


def test_review_filters_answer_htmx_with_just_the_list(school: School, queue) -> None:
    assignment, grades = queue
    client = client_for(school.teacher)
    url = reverse("grading:review", args=[assignment.pk])

    response = client.get(url, {"label": "partially_correct"}, HTTP_HX_TARGET="review-list", **HTMX)

    fragment = response.content.decode()
    assert "<html" not in fragment
    assert fragment.strip().startswith('<div id="review-list"')
    assert re.findall(r'<article id="grade-(\d+)"', fragment) == [str(grades["middle"].pk)]
    assert "HX-Request" in response["Vary"]
    by_student = client.get(url, {"student": school.student.pk, "status": "awaiting_review"}).content.decode()
    assert sorted(re.findall(r'<article id="grade-(\d+)"', by_student)) == sorted(
        [str(grades["unsure"].pk), str(grades["sure"].pk)]
    )
    question = grades["sure"].submission.question
    by_question = client.get(url, {"question": question.pk, "label": "correct"}).content.decode()
    assert re.findall(r'<article id="grade-(\d+)"', by_question) == [str(grades["sure"].pk)]


def test_accept_swaps_only_that_grades_card(school: School, queue) -> None:
    _, grades = queue
    grade = grades["unsure"]
    response = client_for(school.teacher).post(reverse("grading:grade_accept", args=[grade.pk]), **HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.strip().startswith(f'<article id="grade-{grade.pk}"')
    assert fragment.count("<article") == 1
    assert "Approved" in fragment
    grade.refresh_from_db()
    assert (grade.status, grade.reviewer) == (Grade.Status.APPROVED, school.teacher)


def test_override_changes_label_and_score_and_the_feedback_follows(school: School, queue) -> None:
    _, grades = queue
    grade = grades["sure"]
    client = client_for(school.teacher)

    response = client.post(
        reverse("grading:grade_override", args=[grade.pk]), {"label": "partially_correct", "score": ""}, **HTMX
    )

    assert response.status_code == 200
    assert "Partially correct" in response.content.decode()
    assert "The model said correct (2)." in response.content.decode()
    grade.refresh_from_db()
    assert (grade.label, grade.score, grade.status, grade.feedback) == (
        "partially_correct",
        Decimal("1.00"),
        Grade.Status.OVERRIDDEN,
        # What the feedback said of the answer stays; the new label's verdict leads (issue 17).
        "Your answer is partially correct: part of what the question asks for is missing. Well explained.",
    )
    client.post(reverse("grading:grade_override", args=[grade.pk]), {"label": "correct", "score": "1.5"}, **HTMX)
    grade.refresh_from_db()
    assert (grade.label, grade.score) == ("correct", Decimal("1.50"))


def test_feedback_edit_is_saved_and_shown_escaped(school: School, queue) -> None:
    _, grades = queue
    grade = grades["unsure"]
    response = client_for(school.teacher).post(
        reverse("grading:grade_feedback", args=[grade.pk]), {"feedback": "Say <b>which</b> layer."}, **HTMX
    )
    assert "Say &lt;b&gt;which&lt;/b&gt; layer." in response.content.decode()
    grade.refresh_from_db()
    # Saving the feedback does not approve the grade; "Save and accept" does, and the card says which is which.
    assert (grade.feedback, grade.status) == ("Say <b>which</b> layer.", Grade.Status.AWAITING_REVIEW)
    assert "“Save feedback” keeps the grade awaiting review" in response.content.decode()
    client_for(school.teacher).post(
        reverse("grading:grade_feedback", args=[grade.pk]), {"feedback": "Say which layer.", "approve": "1"}, **HTMX
    )
    grade.refresh_from_db()
    assert (grade.feedback, grade.status) == ("Say which layer.", Grade.Status.APPROVED)


def test_bad_review_input_is_a_4xx_fragment_and_changes_nothing(school: School, queue) -> None:
    _, grades = queue
    grade = grades["sure"]
    client = client_for(school.teacher)
    before = grade_state(grade)

    too_high = client.post(
        reverse("grading:grade_override", args=[grade.pk]), {"label": "correct", "score": "3"}, **HTMX
    )
    unknown = client.post(reverse("grading:grade_override", args=[grade.pk]), {"label": "great"}, **HTMX)
    too_long = client.post(reverse("grading:grade_feedback", args=[grade.pk]), {"feedback": "x" * 10_001}, **HTMX)

    assert too_high.status_code == 400
    assert "The score must be between 0 and 2.00." in too_high.content.decode()
    assert unknown.status_code == 400
    assert "Select a valid choice. great is not one of the available choices." in unknown.content.decode()
    assert too_long.status_code == 400
    assert "Feedback is limited to 10,000 characters." in too_long.content.decode()
    assert grade_state(grade) == before


def test_similar_answers_are_grouped_and_accepted_or_relabelled_together(school: School) -> None:
    assignment = make_assignment(school.course)
    q1 = questions_of(assignment)[0]
    students = [school.student]
    for _ in range(2):
        students.append(StudentFactory())
        EnrollmentFactory(course=school.course, student=students[-1])
    same = "The data link layer frames bits and detects transmission errors."
    twins = [
        make_grade(answer(q1, student, same), confidence=0.3 + index / 10) for index, student in enumerate(students[:2])
    ]
    loner = make_grade(answer(q1, students[2], "Bananas are yellow."), label="incorrect", confidence=0.9)
    client = client_for(school.teacher)

    page = client.get(reverse("grading:review", args=[assignment.pk])).content.decode()

    assert page.count('data-testid="group-badge"') == 2
    assert page.count('data-testid="grade-group"') == 1
    response = client.post(
        reverse("grading:group_accept", args=[assignment.pk]),
        {"grade": [grade.pk for grade in twins], "filters": "label=correct"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "2 similar answers accepted." in response.content.decode()
    assert "Bananas" not in response.content.decode()  # the list keeps its filters
    assert [grade_state(grade)[3] for grade in twins] == [Grade.Status.APPROVED] * 2
    assert grade_state(loner)[3] == Grade.Status.AWAITING_REVIEW

    client.post(
        reverse("grading:group_relabel", args=[assignment.pk]),
        {"grade": [grade.pk for grade in twins], "label": "incorrect"},
        **HTMX,
    )
    assert [grade_state(grade)[:2] for grade in twins] == [("incorrect", Decimal("0.00"))] * 2


def test_group_action_with_a_grade_of_another_assignment_changes_nothing(school: School, queue) -> None:
    assignment, grades = queue
    other = make_assignment(school.course, title="Another quiz")
    stranger = make_grade(answer(questions_of(other)[0], school.student))
    before = [grade_state(grade) for grade in (grades["sure"], stranger)]

    response = client_for(school.teacher).post(
        reverse("grading:group_accept", args=[assignment.pk]), {"grade": [grades["sure"].pk, stranger.pk]}, **HTMX
    )

    assert response.status_code == 400
    assert "Some of these grades are not in this assignment any more" in response.content.decode()
    assert [grade_state(grade) for grade in (grades["sure"], stranger)] == before


# --- Query counts -------------------------------------------------------------------------------------------


def _fill(school: School, assignment: Assignment, students: int) -> None:
    for _ in range(students):
        student = StudentFactory()
        EnrollmentFactory(course=school.course, student=student)
        for question in questions_of(assignment):
            make_grade(answer(question, student, f"Answer of {student.username}"), status=Grade.Status.RELEASED)


@pytest.mark.parametrize("students", [1, 6])
def test_review_page_queries_do_not_grow_with_grades(school: School, django_assert_max_num_queries, students) -> None:
    assignment = make_assignment(school.course)
    _fill(school, assignment, students)
    client = client_for(school.teacher)
    client.get(reverse("grading:review", args=[assignment.pk]))  # warm the embedding model
    with django_assert_max_num_queries(8):
        response = client.get(reverse("grading:review", args=[assignment.pk]))
    assert response.content.decode().count('data-testid="grade-card"') == 3 * students


@pytest.mark.parametrize("assignments", [1, 5])
def test_index_queries_do_not_grow_with_assignments(school: School, django_assert_max_num_queries, assignments) -> None:
    for number in range(assignments):
        assignment = make_assignment(school.course, title=f"Quiz {number}")
        for question in questions_of(assignment):
            make_grade(answer(question, school.student), status=Grade.Status.RELEASED)
    for user in (school.teacher, school.student):
        client = client_for(user)
        with django_assert_max_num_queries(7):
            response = client.get(reverse("grading:index"))
        assert response.content.decode().count("Quiz ") >= assignments
