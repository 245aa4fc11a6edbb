"""Grading's factories: a class answering the four SAF networking questions that the demo ships (real questions
and real answers, so the small test grader, trained on them, grades them as it would in the product), without
seeding the rest of the demo."""

from __future__ import annotations

import json
from dataclasses import dataclass

from accounts.models import Course, User
from datasets_admin.demo import DEMO_DATA_DIR
from grading.models import Assignment
from grading.services import assignment_create, question_create, submission_create
from tests.accounts.factories import CourseFactory, EnrollmentFactory, StudentFactory, TeacherFactory

LABELS = ("correct", "partially_correct", "incorrect")


@dataclass
class SafClass:
    """A course with its teacher and three students, and an assignment of the four SAF questions that each
    student has answered with a real SAF answer: one correct, one partially correct, one incorrect, rotating."""

    course: Course
    teacher: User
    students: list[User]
    assignment: Assignment


def saf_class(*, title: str = "Networking short answers") -> SafClass:
    teacher = TeacherFactory()
    course = CourseFactory(teachers=[teacher])
    students = [StudentFactory(first_name=name) for name in ("Ada", "Ben", "Cleo")]
    for student in students:
        EnrollmentFactory(course=course, student=student)
    assignment = assignment_create(course=course, title=title, created_by=teacher)
    items = json.loads((DEMO_DATA_DIR / "saf_questions.json").read_text(encoding="utf-8"))
    for position, item in enumerate(items, start=1):
        question = question_create(
            assignment=assignment,
            text=item["text"],
            reference_answers=item["reference_answers"],
            max_points=item["max_points"],
            position=position,
            source=f"SAF {item['source_file']}",
        )
        for index, student in enumerate(students):
            label = LABELS[(index + position) % len(LABELS)]
            pool = [answer for answer in item["answers"] if answer["label"] == label] or item["answers"]
            submission_create(question=question, student=student, answer_text=pool[index % len(pool)]["response"])
    return SafClass(course=course, teacher=teacher, students=students, assignment=assignment)
