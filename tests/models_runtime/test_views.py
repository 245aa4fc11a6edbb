from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from models_runtime.models import ActiveModel
from models_runtime.registry import version_activate, version_register
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db


def make_grader(tmp_path: Path, name: str, accuracy: float):
    path = tmp_path / name
    path.mkdir()
    return version_register(
        name=name,
        base_model="minilm",
        kind="grader",
        location=str(path),
        tasks=["grader"],
        metrics={"primary": "accuracy", "heldout": {"accuracy": accuracy}},
    )


def test_registry_page_lists_versions_with_metrics(school: School, tmp_path: Path) -> None:
    make_grader(tmp_path, "grader-one", 0.812)
    page = client_for(school.admin).get(reverse("models_runtime:index")).content.decode()
    assert "smollm2-135m-instruct" in page
    assert "grader-one" in page
    assert "0.812" in page


def test_non_admins_are_refused(school: School) -> None:
    assert client_for(school.teacher).get(reverse("models_runtime:index")).status_code == 403


def test_activation_from_the_page_with_confirmation_for_a_worse_version(school: School, tmp_path: Path) -> None:
    good = make_grader(tmp_path, "grader-good", 0.9)
    worse = make_grader(tmp_path, "grader-worse", 0.7)
    version_activate(version=good, task="grader", reason="best")
    client = client_for(school.admin)
    url = reverse("models_runtime:activate", args=[worse.pk])
    response = client.post(url, {"task": "grader", "reason": "experiment"})
    assert response.status_code == 409
    assert "Activate grader-worse anyway" in response.content.decode()
    assert ActiveModel.objects.get(task="grader").version == good
    response = client.post(url, {"task": "grader", "reason": "experiment", "confirm_worse": "on"})
    assert response.status_code == 302
    assert ActiveModel.objects.get(task="grader").version == worse


def test_teacher_cannot_activate(school: School, tmp_path: Path) -> None:
    grader = make_grader(tmp_path, "grader-t", 0.9)
    response = client_for(school.teacher).post(
        reverse("models_runtime:activate", args=[grader.pk]), {"task": "grader", "reason": "mine"}
    )
    assert response.status_code == 403
    assert not ActiveModel.objects.exists()
