"""Issue 16, item 9: an admin exports a student's data (JSON) and deletes it, keeping their grades
anonymised; an audit log of grade changes, releases, model activations and deletions, for admins."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.models import Enrollment, User
from core.models import AuditEntry
from grading.models import Grade, GradeChange, Submission
from grading.services import assignment_release, grade_accept, grade_override
from tests.accounts.factories import EnrollmentFactory, StudentFactory
from tests.conftest import School, client_for
from tests.grading.test_views import answer, make_assignment, make_grade
from tests.tutor.factories import ProblemFactory
from tutor.models import Turn, TutorSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(school: School):
    assignment = make_assignment(school.course)
    question = assignment.questions.order_by("position").first()
    submission = answer(question, school.student, "The sender waits for an acknowledgement.")
    grade = make_grade(submission, feedback="You said the sender waits for an acknowledgement.")
    Grade.objects.filter(pk=grade.pk).update(provenance={"grader_version": "g1", "inputs": {"answer": "secret"}})
    session = TutorSession.objects.create(student=school.student, problem=ProblemFactory(course=school.course))
    Turn.objects.create(session=session, speaker=Turn.Speaker.STUDENT, text="My name is Ada, is it 7?")
    classmate = StudentFactory()
    EnrollmentFactory(course=school.course, student=classmate)
    other = answer(question, classmate, "Another student's answer.")
    make_grade(other)
    return {"assignment": assignment, "grade": grade, "submission": submission, "session": session, "other": other}


def test_an_admin_exports_a_students_data_as_json(school: School, history) -> None:
    response = client_for(school.admin).get(reverse("privacy:student_export", args=[school.student.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="tutorloop-student-{school.student.pk}.json"'
    export = json.loads(response.content)
    assert export["format"] == "tutorloop-student-export"
    assert export["account"]["username"] == school.student.username
    assert "password" not in export["account"]
    data = export["data"]
    assert [row["answer_text"] for row in data["grading.submission"]] == ["The sender waits for an acknowledgement."]
    assert [row["feedback"] for row in data["grading.grade"]] == ["You said the sender waits for an acknowledgement."]
    assert [row["text"] for row in data["tutor.turn"]] == ["My name is Ada, is it 7?"]
    assert [row["course_id"] for row in data["accounts.enrollment"]] == [school.course.pk]
    assert "Another student's answer." not in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor) == ("student.exported", school.admin)


def test_deleting_a_student_keeps_their_grades_anonymised(school: School, history) -> None:
    student_pk, username = school.student.pk, school.student.username
    response = client_for(school.admin).post(
        reverse("privacy:student_delete", args=[student_pk]), {"confirm": username}
    )
    assert response.status_code == 302
    assert not User.objects.filter(pk=student_pk).exists()
    assert not User.objects.filter(username=username).exists()
    assert not Enrollment.objects.filter(student_id=student_pk).exists()
    assert not TutorSession.objects.filter(pk=history["session"].pk).exists()

    grade = Grade.objects.get(pk=history["grade"].pk)  # kept, for the statistics
    assert (grade.label, grade.score) == (history["grade"].label, history["grade"].score)
    assert (grade.feedback, grade.model_feedback) == ("", "")
    assert grade.provenance == {"grader_version": "g1"}
    submission = Submission.objects.get(pk=history["submission"].pk)
    assert submission.answer_text == ""
    assert submission.student.username == f"deleted-{student_pk}"
    assert submission.student.is_active is False
    assert not submission.student.has_usable_password()
    assert (submission.student.first_name, submission.student.email, submission.student.role) == ("", "", "")
    assert all("feedback" not in change.after for change in GradeChange.objects.filter(grade=grade))
    # The other student's work is untouched.
    assert Submission.objects.get(pk=history["other"].pk).answer_text == "Another student's answer."

    entry = AuditEntry.objects.get(action="student.deleted")
    assert entry.actor == school.admin
    assert username not in entry.summary
    assert entry.summary == f"Deleted the account and personal data of student #{student_pk}; 1 grades kept, anonymised"


def test_a_deletion_without_the_right_confirmation_changes_nothing(school: School, history) -> None:
    response = client_for(school.admin).post(
        reverse("privacy:student_delete", args=[school.student.pk]), {"confirm": "someone-else"}, follow=True
    )
    assert "to confirm the deletion" in response.content.decode()
    assert User.objects.filter(pk=school.student.pk).exists()
    assert Submission.objects.get(pk=history["submission"].pk).answer_text == "The sender waits for an acknowledgement."
    assert not AuditEntry.objects.exists()


def test_teachers_and_students_cannot_export_or_delete(school: School, history) -> None:
    for user in (school.teacher, school.student, school.other_teacher):
        client = client_for(user)
        assert client.get(reverse("privacy:student_export", args=[school.student.pk])).status_code == 403
        assert (
            client.post(
                reverse("privacy:student_delete", args=[school.student.pk]), {"confirm": school.student.username}
            ).status_code
            == 403
        )
    assert User.objects.filter(pk=school.student.pk).exists()
    assert not AuditEntry.objects.exists()


def test_the_audit_log_shows_grade_changes_releases_activations_and_deletions(
    school: School, history, active_grader
) -> None:
    grade = history["grade"]
    grade_override(grade=grade, user=school.teacher, label="incorrect")
    grade_accept(grade=Grade.objects.get(pk=history["other"].grade.pk), user=school.teacher)
    assignment_release(assignment=history["assignment"], user=school.teacher)
    client = client_for(school.admin)
    client.post(reverse("privacy:student_delete", args=[school.student.pk]), {"confirm": school.student.username})

    page = client.get(reverse("privacy:audit")).content.decode()
    assert f"Overridden grade #{grade.pk}" in page
    assert "→ incorrect 0.00" in page
    assert "Released grade #" in page
    assert "Activated test-grader for grader" in page
    assert f"Deleted the account and personal data of student #{school.student.pk}" in page
    only_models = client.get(reverse("privacy:audit"), {"kind": "models"}).content.decode()
    assert "Activated test-grader" in only_models
    assert "Overridden grade" not in only_models
    assert client_for(school.teacher).get(reverse("privacy:audit")).status_code == 403
