"""The pages: the form and its refusals, the dialogue page, saving, rating, assigning, answering, and who
may see what (another course's teacher gets 404, a student 403 on teachers' pages; nothing changes)."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment
from core.models import Job
from tests.coaching.reflection.conftest import GOOD, finished_dialogue, photosynthesis_form
from tests.coaching.reflection.test_materials import scanned_pdf
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

INDEX = reverse("reflection:index")


def post_form(client, school, **overrides):
    return client.post(INDEX, {"course": school.course.pk, **photosynthesis_form(**overrides)})


def test_a_teacher_starts_a_dialogue_as_a_job_on_the_models_queue(school, django_capture_on_commit_callbacks) -> None:
    client = client_for(school.teacher)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_form(client, school)

    dialogue = Dialogue.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reflection:dialogue", args=[dialogue.pk])
    assert (dialogue.topic, dialogue.concepts, dialogue.level, dialogue.max_rounds) == (
        "Photosynthesis", ["chlorophyll", "sunlight", "glucose"], "year 7", 3,
    )  # fmt: skip
    assert dialogue.status == Dialogue.Status.QUEUED
    assert dialogue.job is not None and dialogue.job.kind == "reflection.generate"
    assert dialogue.job.params == {"dialogue_id": dialogue.pk}
    assert len(callbacks) == 1  # the task is enqueued after the commit

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'hx-trigger="every 2s"' in page.content.decode()
    assert "Waiting for the worker" in page.content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"concepts": ""}, "Give at least one key concept (separate several with commas)."),
        ({"topic": "t" * 5000}, "The topic has 5,000 characters; keep it to 300 (put the rest in the materials)."),
        ({"max_rounds": 12}, "Check the form: max_rounds: Ensure this value is less than or equal to 8."),
    ],
)
def test_bad_form_input_shows_the_message_keeps_the_values_and_stores_nothing(school, overrides, message) -> None:
    client = client_for(school.teacher)

    response = post_form(client, school, **overrides)

    assert response.status_code == 400
    content = response.content.decode()
    assert message in content
    assert 'value="year 7"' in content
    assert Dialogue.objects.count() == 0
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("empty.txt", b""), "The submitted file is empty."),
        (SimpleUploadedFile("scan.pdf", scanned_pdf(), "application/pdf"), "has no text layer (a scanned PDF?)"),
        (SimpleUploadedFile("photo.txt", b"\x00\x01\x02binary", "text/plain"), "is not a text file (it holds binary data)"),  # noqa: E501
    ],
    ids=["empty", "scanned-pdf", "binary"],
)  # fmt: skip
def test_unusable_materials_files_are_refused_and_nothing_is_stored(school, upload, message) -> None:
    client = client_for(school.teacher)

    response = client.post(INDEX, {"course": school.course.pk, **photosynthesis_form(), "materials_file": upload})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Dialogue.objects.count() == 0
    assert Job.objects.count() == 0


def test_an_uploaded_file_becomes_the_materials(school, django_capture_on_commit_callbacks) -> None:
    client = client_for(school.teacher)
    upload = SimpleUploadedFile("notes.md", b"# Light\n\nLeaves face the sun.")

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(INDEX, {"course": school.course.pk, **photosynthesis_form(), "materials_file": upload})

    assert response.status_code == 302
    dialogue = Dialogue.objects.get()
    assert (dialogue.materials, dialogue.materials_name) == ("# Light\n\nLeaves face the sun.", "notes.md")


def test_another_courses_teacher_cannot_start_see_or_save_a_dialogue(school) -> None:
    dialogue = finished_dialogue(school)
    client = client_for(school.other_teacher)

    assert post_form(client, school).status_code == 404
    assert client.get(reverse("reflection:dialogue", args=[dialogue.pk])).status_code == 404
    save = client.post(reverse("reflection:dialogue_save", args=[dialogue.pk]), {"text": "Mine?", "rating": 5})
    assert save.status_code == 404
    assert Dialogue.objects.count() == 1
    assert BankQuestion.objects.count() == 0


def test_students_get_403_on_the_teachers_pages(school) -> None:
    dialogue = finished_dialogue(school)
    client = client_for(school.student)

    assert client.get(INDEX).status_code == 403
    assert post_form(client, school).status_code == 403
    assert client.get(reverse("reflection:dialogue", args=[dialogue.pk])).status_code == 403
    assert client.get(reverse("reflection:bank")).status_code == 403
    assert Dialogue.objects.count() == 1


def test_the_finished_dialogue_page_shows_rounds_and_the_final_question(school) -> None:
    dialogue = finished_dialogue(school)

    response = client_for(school.teacher).get(reverse("reflection:dialogue", args=[dialogue.pk]))

    content = response.content.decode()
    assert content.count('data-testid="round"') == 2
    assert "Great question!" in content
    assert GOOD["question"] in content
    assert 'hx-trigger="every 2s"' not in content


def test_the_polled_fragment_is_the_dialogue_section_only(school) -> None:
    dialogue = finished_dialogue(school, status=Dialogue.Status.RUNNING, final_question="")

    response = client_for(school.teacher).get(
        reverse("reflection:dialogue", args=[dialogue.pk]), HTTP_HX_REQUEST="true"
    )

    content = response.content.decode()
    assert content.lstrip().startswith('<section id="dialogue"')
    assert "<html" not in content
    assert "Round 3 of at most 3" in content


def test_save_edit_rate_and_assign_then_a_student_answers_and_the_teacher_reads_it(school) -> None:
    dialogue = finished_dialogue(school)
    teacher = client_for(school.teacher)
    edited = "Why does chlorophyll need sunlight, and how would a plant manage without it?"

    response = teacher.post(reverse("reflection:dialogue_save", args=[dialogue.pk]), {"text": edited, "rating": "4"})

    question = BankQuestion.objects.get()
    assert response["Location"] == reverse("reflection:bank_question", args=[question.pk])
    assert (question.text, question.generated_text, question.rating, question.is_edited) == (
        edited, GOOD["question"], 4, True,
    )  # fmt: skip
    assert all(check["passed"] for check in question.checks)

    due = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    teacher.post(reverse("reflection:bank_question_assign", args=[question.pk]), {"due_at": due})
    assignment = QuestionAssignment.objects.get()
    assert (assignment.course, assignment.due_at.date().isoformat()) == (school.course, due)

    student = client_for(school.student)
    dashboard_fragment = student.get(reverse("reflection:assigned") + "?fragment=1")
    assert edited in dashboard_fragment.content.decode()
    assert "not answered yet" in dashboard_fragment.content.decode()
    answered = student.post(
        reverse("reflection:assigned_answer", args=[assignment.pk]), {"text": "Light gives energy."}
    )
    assert answered.status_code == 302
    assert Answer.objects.get().text == "Light gives energy."

    page = teacher.get(reverse("reflection:bank_question", args=[question.pk])).content.decode()
    assert "Light gives energy." in page
    assert school.student.display_name in page


def test_bad_ratings_and_due_dates_are_refused_and_nothing_changes(school, bank_question) -> None:
    teacher = client_for(school.teacher)

    teacher.post(reverse("reflection:bank_question_edit", args=[bank_question.pk]), {"text": "New?", "rating": "9"})
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    past = teacher.post(
        reverse("reflection:bank_question_assign", args=[bank_question.pk]), {"due_at": yesterday}, follow=True
    )
    garbled = teacher.post(
        reverse("reflection:bank_question_assign", args=[bank_question.pk]), {"due_at": "soon"}, follow=True
    )

    bank_question.refresh_from_db()
    assert (bank_question.text, bank_question.rating) == (GOOD["question"], 4)
    assert "The due date must be in the future." in past.content.decode()
    assert "Give the due date as YYYY-MM-DD." in garbled.content.decode()
    assert QuestionAssignment.objects.count() == 0


def test_students_of_another_course_cannot_see_or_answer_and_teachers_cannot_answer(school, assignment) -> None:
    other = client_for(school.other_student)
    url = reverse("reflection:assigned_answer", args=[assignment.pk])

    assert other.get(url).status_code == 404
    assert other.post(url, {"text": "Sneaky"}).status_code == 404
    assert "No reflection questions assigned" in other.get(reverse("reflection:assigned")).content.decode()
    assert client_for(school.teacher).post(url, {"text": "Teacher"}).status_code == 403
    assert (
        client_for(school.other_teacher)
        .get(reverse("reflection:bank_question", args=[assignment.question_id]))
        .status_code
        == 404
    )
    assert Answer.objects.count() == 0


def test_an_empty_answer_is_refused_and_answering_again_replaces_the_text(school, assignment) -> None:
    student = client_for(school.student)
    url = reverse("reflection:assigned_answer", args=[assignment.pk])

    empty = student.post(url, {"text": "   "})
    student.post(url, {"text": "First thought."})
    student.post(url, {"text": "Second thought."})

    assert empty.status_code == 400
    assert "Write your answer first." in empty.content.decode()
    assert list(Answer.objects.values_list("text", flat=True)) == ["Second thought."]


def test_the_student_dashboard_loads_the_assigned_questions_fragment(school, assignment) -> None:
    dashboard = client_for(school.student).get(reverse("accounts:dashboard")).content.decode()

    assert f'hx-get="{reverse("reflection:assigned")}?fragment=1"' in dashboard


def test_the_bank_lists_only_the_teachers_courses_with_a_fixed_number_of_queries(
    school, bank_question, django_assert_num_queries
) -> None:
    from coaching.reflection.services import bank_question_create

    bank_question_create(user=school.other_teacher, course=school.other_course, text="Why elsewhere, and how?")
    client = client_for(school.teacher)
    client.get(reverse("reflection:bank"))  # warm the session

    with django_assert_num_queries(5):
        response = client.get(reverse("reflection:bank"))

    assert response.content.decode().count('data-testid="bank-row"') == 1
    assert client.get(reverse("reflection:bank") + "?course=abc").status_code == 400


def test_the_coaching_index_links_to_reflection_questions(school) -> None:
    page = client_for(school.teacher).get(reverse("coaching:index")).content.decode()

    assert reverse("reflection:index") in page
