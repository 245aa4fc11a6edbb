from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import Course, User
from datasets_admin.demo import DEMO_DATA_DIR
from grading.grader import bank_write
from grading.grader_model import GraderConfig, GradingExample, grader_train, question_text_key
from grading.training import examples_write
from tests.accounts.factories import (
    PASSWORD,
    AdminFactory,
    CourseFactory,
    EnrollmentFactory,
    StudentFactory,
    TeacherFactory,
)
from tests.worker import celery_worker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: they are the slowest, and they own an event loop while they run."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@dataclass
class School:
    """Two courses, each with its own teacher and student, and an admin over both."""

    admin: User
    teacher: User
    other_teacher: User
    student: User
    other_student: User
    course: Course
    other_course: Course


@pytest.fixture
def school(db: None) -> School:
    teacher = TeacherFactory()
    other_teacher = TeacherFactory()
    course = CourseFactory(teachers=[teacher])
    other_course = CourseFactory(teachers=[other_teacher])
    student = StudentFactory()
    other_student = StudentFactory()
    EnrollmentFactory(course=course, student=student)
    EnrollmentFactory(course=other_course, student=other_student)
    return School(
        admin=AdminFactory(),
        teacher=teacher,
        other_teacher=other_teacher,
        student=student,
        other_student=other_student,
        course=course,
        other_course=other_course,
    )


def client_for(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


# --- A small real grader: trained once per session (fast settings) on the SAF demo answers -----


def demo_examples() -> list[GradingExample]:
    examples = []
    for item in json.loads((DEMO_DATA_DIR / "saf_questions.json").read_text(encoding="utf-8")):
        for answer in item["answers"]:
            example = GradingExample(
                question=item["text"],
                reference_answers=item["reference_answers"],
                answer=answer["response"],
                label=answer["label"],
                score=answer["score"],
                question_id=str(item["question_id"]),
                feedback=answer["feedback"],
            )
            examples.append(example)
    return examples


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """Every in-process model of the test run (embeddings, training, the local engine) on the test settings'
    MODEL_TORCH_THREADS (1): the engine sets it process-wide when it first loads; this sets it from the start,
    so a test's speed does not depend on which test loaded the engine first."""
    import torch
    from django.conf import settings

    if settings.MODEL_TORCH_THREADS:
        torch.set_num_threads(settings.MODEL_TORCH_THREADS)


@pytest.fixture(scope="session")
def grader_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("grader")
    examples = demo_examples()
    grader_train(examples, output_dir=directory, config=GraderConfig.fast())
    examples_write(directory, examples)
    bank_write(directory, [(question_text_key(e.question), e.answer, e.label or "", e.feedback) for e in examples])
    return directory


@pytest.fixture
def active_grader(db: None, grader_artifact_dir: Path):
    from models_runtime import api as models

    version = models.version_register(
        name="test-grader",
        base_model="all-MiniLM-L6-v2",
        kind="grader",
        location=str(grader_artifact_dir),
        tasks=["grader"],
        metrics={"primary": "accuracy", "heldout": {"accuracy": 0.5}},
    )
    models.version_activate(version=version, task="grader", reason="tests")
    return version


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker on the default and models queues (tests/worker.py), for the length of a test."""
    with celery_worker() as process:
        yield process
