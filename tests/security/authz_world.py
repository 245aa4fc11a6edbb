"""The objects the authorization matrix asks about: one of each kind, in the course (its teacher and
student) with a twin course beside it (the other teacher and student), and an admin over both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.test import Client

from accounts.models import User
from core.models import Job
from grading.models import Assignment, Grade, Question, Submission
from models_runtime.models import ModelVersion
from tests.conftest import School, client_for
from tests.grading.test_views import answer, make_assignment, make_grade
from tests.tutor.factories import ProblemFactory
from tutor.models import Problem, Turn, TutorSession

# Arguments of URLs whose objects the world does not build (the row says `placeholder`).
PLACEHOLDERS: dict[str, Any] = {
    "code": "no-such-course",
    "lecture_id": 999_999,
    "comment_id": 999_999,
    "category": "question",
    "slug": "no-such-dataset",
    "number": 1,
    "fmt": "csv",
    "transcript_id": 999_999,
    "dialogue_id": 999_999,
}


@dataclass
class World:
    school: School
    assignment: Assignment
    question: Question
    submission: Submission
    grade: Grade
    problem: Problem
    session: TutorSession
    turn: Turn
    job: Job
    version: ModelVersion

    def user(self, identity: str) -> User | None:
        return None if identity == "anonymous" else getattr(self.school, identity)

    def client(self, identity: str) -> Client:
        user = self.user(identity)
        return Client() if user is None else client_for(user)

    def url_kwargs(self, names: list[str]) -> dict[str, Any]:
        by_name: dict[str, Any] = {
            "course_id": self.school.course.pk,
            "assignment_id": self.assignment.pk,
            "question_id": self.question.pk,
            "grade_id": self.grade.pk,
            "problem_id": self.problem.pk,
            "session_id": self.session.pk,
            "turn_id": self.turn.pk,
            "job_id": self.job.pk,
            "version_id": self.version.pk,
            "username": self.school.student.username,
            "student_id": self.school.student.pk,
            **PLACEHOLDERS,
        }
        missing = [name for name in names if name not in by_name]
        if missing:
            raise AssertionError(
                f"The matrix's world has no object for the URL argument(s) {missing}: add one to "
                "tests/security/authz_world.py (World.url_kwargs), or give the row `kwargs`."
            )
        return {name: by_name[name] for name in names}


def world_build(school: School) -> World:
    assignment = make_assignment(school.course)
    question = assignment.questions.order_by("position").first()
    assert question is not None
    submission = answer(question, school.student)
    grade = make_grade(submission)
    problem = ProblemFactory(course=school.course)
    session = TutorSession.objects.create(student=school.student, problem=problem)
    Turn.objects.create(session=session, speaker=Turn.Speaker.STUDENT, text="Is it 7?")
    turn = Turn.objects.create(
        session=session, speaker=Turn.Speaker.TUTOR, move=Turn.Move.PROBING, text="What did Julia buy first?"
    )
    job = Job.objects.create(kind="test", title="The teacher's job", created_by=school.teacher)
    version = ModelVersion.objects.create(
        name="authz-grader", base_model="all-MiniLM-L6-v2", kind="grader", location="/nonexistent", tasks=["grader"]
    )
    return World(
        school=school,
        assignment=assignment,
        question=question,
        submission=submission,
        grade=grade,
        problem=problem,
        session=session,
        turn=turn,
        job=job,
        version=version,
    )
