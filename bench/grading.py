"""Grading throughput: 1,000 answers end to end (database -> grader -> database) against the raw
grader's forward passes on the same texts, in one run. Prints JSON with the ratio (target >= 0.8).

    .venv/bin/python bench/grading.py [--answers 1000] [--grader-dir DIR]

Without --grader-dir it trains a small grader on the demo SAF answers first (fast settings: same
network, fewer epochs, so the same inference cost as a fully trained one).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._django import django_setup_with_test_database, django_teardown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--grader-dir", type=Path)
    options = parser.parse_args()
    connection = django_setup_with_test_database()
    try:
        print(json.dumps(run(options.answers, options.grader_dir)))
    finally:
        django_teardown(connection)


def run(count: int, grader_dir: Path | None) -> dict[str, object]:
    from accounts.services import course_create, enrollment_create, user_create
    from grading.grader_model import GraderConfig, grader_load, grader_train
    from grading.models import Grade, Submission
    from grading.services import assignment_create, question_create, submissions_grade
    from models_runtime import api as models
    from tests.conftest import demo_examples

    examples = demo_examples()
    if grader_dir is None:
        grader_dir = Path(tempfile.mkdtemp(prefix="bench-grader-"))
        grader_train(examples, output_dir=grader_dir, config=GraderConfig.fast())
    version = models.version_register(
        name="bench-grader", base_model="all-MiniLM-L6-v2", kind="grader", location=str(grader_dir), tasks=["grader"]
    )
    models.version_activate(version=version, task="grader", reason="benchmark")

    teacher = user_create(username="bench-teacher", password="x-bench-password-1", role="teacher")
    course = course_create(code="bench", name="Bench", teachers=[teacher])
    assignment = assignment_create(course=course, title="Bench")
    questions = {}
    for example in examples:
        if example.question_id not in questions:
            questions[example.question_id] = question_create(
                assignment=assignment, text=example.question, reference_answers=example.reference_answers
            )
    students = [user_create(username=f"s{i}", password="x-bench-password-1", role="student") for i in range(count)]
    for student in students:
        enrollment_create(course=course, student=student)
    rows = []
    for index, student in enumerate(students):
        example = examples[index % len(examples)]
        rows.append(
            Submission(
                question=questions[example.question_id], student=student, answer_text=f"{example.answer} ({index})"
            )
        )
    Submission.objects.bulk_create(rows)
    submissions = list(Submission.objects.select_related("question").order_by("pk"))
    texts = [
        type(examples[0])(
            question=s.question.text, reference_answers=s.question.reference_answers, answer=s.answer_text
        )
        for s in submissions
    ]

    grader = grader_load(grader_dir)
    grader.predict(texts[:32])  # warm up both paths' caches alike
    started = time.perf_counter()
    grader.predict(texts)
    raw_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for start in range(0, len(submissions), 256):
        submissions_grade(submissions=submissions[start : start + 256], include_feedback=False)
    end_to_end_seconds = time.perf_counter() - started
    assert Grade.objects.count() == count

    return {
        "answers": count,
        "raw_answers_per_second": round(count / raw_seconds, 1),
        "end_to_end_answers_per_second": round(count / end_to_end_seconds, 1),
        "ratio_end_to_end_over_raw": round(raw_seconds / end_to_end_seconds, 3),
        "target_ratio": 0.8,
    }


if __name__ == "__main__":
    main()
