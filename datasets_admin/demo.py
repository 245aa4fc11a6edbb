"""The seeded demo: a course, its people, and content copied from public data sets.

The content files live in datasets_admin/demo_data/ with their attribution (ATTRIBUTION.md).
Seeding is idempotent: running it again changes nothing that exists and adds what is missing.
"""

from __future__ import annotations

import csv
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Course, Role, User
from accounts.services import course_create, course_teacher_add, enrollment_create, user_create
from coaching.reflection.models import BankQuestion
from coaching.reflection.services import bank_question_create, question_assign
from coaching.services import demo_transcript_seed
from grading.models import Assignment, Question, Submission
from grading.services import assignment_create, grader_first_start, question_create, submission_create
from tutor.models import Problem
from tutor.services import problem_create

DEMO_DATA_DIR = Path(__file__).resolve().parent / "demo_data"
DEMO_PASSWORD = "tutorloop-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_COURSE_CODE = "demo-101"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    name: str


DEMO_PEOPLE = (
    ("admin", Role.ADMIN, "Alex", "Admin"),
    ("teacher", Role.TEACHER, "Taylor", "Morgan"),
    ("ada", Role.STUDENT, "Ada", "Lovelace"),
    ("ben", Role.STUDENT, "Ben", "Okafor"),
    ("cleo", Role.STUDENT, "Cleo", "Nakamura"),
)


def _load(name: str) -> list[dict[str, Any]]:
    with (DEMO_DATA_DIR / name).open(encoding="utf-8") as handle:
        data: list[dict[str, Any]] = json.load(handle)
    return data


def _person(username: str, role: str, first: str, last: str) -> User:
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    return user_create(
        username=username,
        password=DEMO_PASSWORD,
        role=role,
        first_name=first,
        last_name=last,
        email=f"{username}@example.org",
    )


@transaction.atomic
def demo_seed() -> list[DemoLogin]:
    people = {username: _person(username, role, first, last) for username, role, first, last in DEMO_PEOPLE}
    course = Course.objects.filter(code=DEMO_COURSE_CODE).first() or course_create(
        code=DEMO_COURSE_CODE,
        name="Networks and Numbers 101",
        description=(
            "A demo course with short questions from a university networking course and math word "
            "problems for tutoring, taken from the SAF (Filighera et al., 2022; MIT license) and "
            "MathDial (Macina et al., 2023; CC BY-SA 4.0) research data sets."
        ),
    )
    course_teacher_add(course=course, teacher=people["teacher"])
    students = [user for user in people.values() if user.role == Role.STUDENT]
    for student in students:
        enrollment_create(course=course, student=student)

    assignment = _seed_questions(course=course, teacher=people["teacher"], students=students)
    _seed_problems(course=course)
    _seed_coaching_transcript(teacher=people["teacher"])
    _seed_grader(admin=people["admin"], assignment=assignment)
    _seed_reflection_question(course=course, teacher=people["teacher"])
    return [
        DemoLogin(username=username, password=DEMO_PASSWORD, role=role, name=f"{first} {last}")
        for username, role, first, last in DEMO_PEOPLE
    ]


def _seed_questions(*, course: Course, teacher: User, students: list[User]) -> Assignment:
    title = "Networking short answers"
    assignment = Assignment.objects.filter(course=course, title=title).first() or assignment_create(
        course=course,
        title=title,
        created_by=teacher,
        description="Four questions from the SAF data set (Filighera et al., 2022), MIT license.",
    )
    for position, item in enumerate(_load("saf_questions.json"), start=1):
        question = Question.objects.filter(assignment=assignment, position=position).first() or question_create(
            assignment=assignment,
            text=item["text"],
            reference_answers=item["reference_answers"],
            max_points=item["max_points"],
            position=position,
            source=f"SAF {item['source_file']}",
        )
        # Each demo student has answered each question with a real SAF answer: one correct,
        # one partially correct, one incorrect, rotating, so a teacher has a mix to review.
        by_label: dict[str, list[dict[str, Any]]] = {}
        for answer in item["answers"]:
            by_label.setdefault(answer["label"], []).append(answer)
        labels = ["correct", "partially_correct", "incorrect"]
        for index, student in enumerate(students):
            if Submission.objects.filter(question=question, student=student).exists():
                continue
            label = labels[(index + position) % len(labels)]
            pool = by_label.get(label) or item["answers"]
            submission_create(question=question, student=student, answer_text=pool[index % len(pool)]["response"])
    return assignment


DEMO_REFLECTION_QUESTION = (
    "Why does TCP send a lost packet again, and how does that make the connection reliable for the application?"
)


def _seed_reflection_question(*, course: Course, teacher: User) -> None:
    """One reflection question in the course's bank, assigned for two weeks, so students see it at once."""
    question = BankQuestion.objects.filter(course=course, text=DEMO_REFLECTION_QUESTION).first()
    if question is None:
        question = bank_question_create(user=teacher, course=course, text=DEMO_REFLECTION_QUESTION, rating=4)
    if not question.assignments.filter(course=course).exists():
        question_assign(user=teacher, question=question, due_at=timezone.now() + datetime.timedelta(days=14))


def _seed_coaching_transcript(*, teacher: User) -> None:
    """One lesson transcript for the demo teacher, an NCTE observation's exchanges in their order, and its report."""
    with (DEMO_DATA_DIR / "ncte_uptake_obs4426.csv").open(encoding="utf-8", newline="") as handle:
        exchanges = list(csv.DictReader(handle))
    lesson_date = timezone.localdate() - datetime.timedelta(days=7)
    demo_transcript_seed(teacher=teacher, exchanges=exchanges, lesson_date=lesson_date)


def _seed_problems(*, course: Course) -> None:
    for index, item in enumerate(_load("mathdial_problems.json")):
        title = _problem_title(item["statement"])
        if Problem.objects.filter(course=course, title=title).exists():
            continue
        problem_create(
            course=course,
            title=title,
            statement=item["statement"],
            worked_solution=item["worked_solution"],
            final_answer=item["final_answer"],
            misconceptions=item["common_misconceptions"],
            is_assigned=index < 6,
            source=f"MathDial qid {item['qid']}",
        )


def _seed_grader(*, admin: User, assignment: Assignment) -> None:
    """Without an active grader, prepare the first one in the background (the worker runs it): a quick
    fit activated in about a minute, which then grades the demo assignment's answers for the teacher to
    review, and the full grader trained after it (grading.jobs.grader_quick_run)."""
    from core.models import Job
    from models_runtime import api as models

    if models.task_has_active_version("grader"):
        return
    # A training job left "running" by a worker that was stopped (Ctrl-C on `make run`) would never
    # finish: seeding runs before the demo's worker starts, so such a job is an orphan. Mark it and
    # start again. A queued job is still in the broker and is left for the worker.
    Job.objects.filter(kind="grading.retrain", status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, message="Interrupted: the worker stopped. Started again.", finished_at=timezone.now()
    )
    if Job.objects.filter(kind="grading.retrain", status=Job.Status.QUEUED).exists():
        return
    grader_first_start(user=admin, grade_assignment_ids=[assignment.pk])


def _problem_title(statement: str) -> str:
    first_sentence = statement.split(". ")[0].strip().rstrip(".")
    return first_sentence if len(first_sentence) <= 80 else first_sentence[:77].rstrip() + "…"
