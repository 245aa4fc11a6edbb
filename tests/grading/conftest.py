"""A small real grader for the grading tests: trained once per test session (fast settings) on the
SAF answers shipped as demo content, then registered and activated per test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets_admin.demo import DEMO_DATA_DIR
from grading.grader import bank_write
from grading.grader_model import GraderConfig, GradingExample, grader_train
from grading.training import examples_write


def demo_examples() -> list[GradingExample]:
    examples = []
    for item in json.loads((DEMO_DATA_DIR / "saf_questions.json").read_text(encoding="utf-8")):
        for answer in item["answers"]:
            example = GradingExample(
                question=item["text"], reference_answers=item["reference_answers"], answer=answer["response"],
                label=answer["label"], score=answer["score"], question_id=str(item["question_id"]),
            )
            example.feedback = answer["feedback"]  # type: ignore[attr-defined]
            examples.append(example)
    return examples


@pytest.fixture(scope="session")
def grader_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("grader")
    examples = demo_examples()
    grader_train(examples, output_dir=directory, config=GraderConfig.fast())
    examples_write(directory, examples)
    bank_write(directory, [(e.question_id, e.answer, e.label or "", e.feedback) for e in examples])  # type: ignore[attr-defined]
    return directory


@pytest.fixture
def active_grader(db: None, grader_artifact_dir: Path):
    from models_runtime import api as models

    version = models.version_register(
        name="test-grader", base_model="all-MiniLM-L6-v2", kind="grader", location=str(grader_artifact_dir),
        tasks=["grader"], metrics={"primary": "accuracy", "heldout": {"accuracy": 0.5}},
    )
    models.version_activate(version=version, task="grader", reason="tests")
    return version
