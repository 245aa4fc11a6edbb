"""The job's work: rounds are stored as they finish; a model server that goes down fails the dialogue
with its message, keeps the rounds so far and stores no final question; a finished dialogue keeps
everything the distillation issue needs."""

from __future__ import annotations

import pytest

from coaching.reflection.dialogue import STOP_SIGNAL
from coaching.reflection.models import Dialogue
from coaching.reflection.selectors import preference_pairs
from coaching.reflection.services import bank_question_save
from core.models import Job
from core.services import job_run
from tests.coaching.reflection.conftest import CLOSED, GOOD, ScriptedServer
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def start(school, django_capture_on_commit_callbacks, **form) -> Dialogue:
    values = {"course": school.course.pk, "topic": "Photosynthesis", "concepts": "chlorophyll, sunlight, glucose",
              "level": "year 7", "max_rounds": 3, **form}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        client_for(school.teacher).post("/coaching/questions/", values)
    return Dialogue.objects.get()


def test_the_job_stores_every_round_and_the_final_question_with_provenance(
    school, scripted_server: ScriptedServer, django_capture_on_commit_callbacks
) -> None:
    scripted_server.drafts = [CLOSED, GOOD]
    scripted_server.replies = [STOP_SIGNAL]
    dialogue = start(school, django_capture_on_commit_callbacks)

    job = job_run(job_id=str(dialogue.job_id), work=lambda job: __import__(
        "coaching.reflection.services", fromlist=["dialogue_run"]).dialogue_run(job=job))  # fmt: skip

    dialogue.refresh_from_db()
    assert job is not None and job.status == Job.Status.SUCCEEDED
    assert job.result == {"dialogue_id": dialogue.pk, "rounds": 2, "stop_reason": "signal", "final_source": "model",
                          "final_passes_checks": True}  # fmt: skip
    assert (dialogue.status, dialogue.stop_reason, dialogue.final_question) == ("finished", "signal", GOOD["question"])
    rounds = list(dialogue.rounds.all())
    assert [item.number for item in rounds] == [1, 2]
    assert [item.coaching_source for item in rounds] == ["checks", "educator"]
    assert rounds[1].is_stop_signal
    assert rounds[0].provenance["student_teacher"]["prompt_template"] == "reflection_student_teacher@v3"
    assert rounds[1].provenance["teacher_educator"]["prompt_template"] == "reflection_teacher_educator@v2"
    assert dialogue.provenance["model_version"] == "openai-scripted-gpu-stand-in"

    # The teacher's edit is the preferred text, the first draft the rejected one.
    bank_question_save(
        user=school.teacher, dialogue=dialogue, text="Why does chlorophyll need sunlight, and how?", rating=3
    )
    (pair,) = preference_pairs()
    assert (pair["preferred"], pair["rejected"], pair["rating"]) == (
        "Why does chlorophyll need sunlight, and how?", CLOSED["question"], 3,
    )  # fmt: skip


def test_a_server_that_goes_down_fails_the_dialogue_keeps_its_rounds_and_stores_no_final_question(
    school, scripted_server: ScriptedServer, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    from coaching.reflection.services import dialogue_run
    from models_runtime.backends import openai as openai_backend

    monkeypatch.setattr(openai_backend.time, "sleep", lambda seconds: None)
    scripted_server.drafts = [CLOSED]
    scripted_server.down_after = 1  # round 1's draft is written; then the server answers 503
    dialogue = start(school, django_capture_on_commit_callbacks)

    job = job_run(job_id=str(dialogue.job_id), work=lambda job: dialogue_run(job=job))

    dialogue.refresh_from_db()
    assert job is not None and job.status == Job.Status.FAILED
    assert "ModelServerError" in job.error
    assert dialogue.status == Dialogue.Status.FAILED
    assert scripted_server.base_url in dialogue.error
    assert dialogue.final_question == ""
    assert [item.number for item in dialogue.rounds.all()] == [1]

    page = client_for(school.teacher).get(f"/coaching/questions/dialogues/{dialogue.pk}/").content.decode()
    assert "The dialogue stopped:" in page
    assert "The rounds so far are kept." in page


def test_a_job_delivered_twice_runs_the_dialogue_once(
    school, scripted_server: ScriptedServer, django_capture_on_commit_callbacks
) -> None:
    from coaching.reflection.services import dialogue_run

    scripted_server.drafts = [GOOD]
    scripted_server.replies = [STOP_SIGNAL]
    dialogue = start(school, django_capture_on_commit_callbacks)

    job_run(job_id=str(dialogue.job_id), work=lambda job: dialogue_run(job=job))
    again = job_run(job_id=str(dialogue.job_id), work=lambda job: dialogue_run(job=job))

    assert again is None
    assert dialogue.rounds.count() == 1
    assert len(scripted_server.draft_requests) == 1
