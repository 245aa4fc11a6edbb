"""The dialogue's loop, through the real openai backend against a scripted server standing in for a GPU
server (so a test chooses the words), and once with the real local model."""

from __future__ import annotations

import pytest

from coaching.reflection.dialogue import (
    MAX_TOPIC_CHARS,
    STOP_SIGNAL,
    dialogue_generate,
    one_shot_generate,
    question_repair,
    question_spec_build,
)
from core.errors import ApplicationError
from models_runtime import api as models
from tests.coaching.reflection.conftest import CLOSED, GOOD, GOOD_2, OFF_TOPIC, ScriptedServer, photosynthesis_form

pytestmark = pytest.mark.django_db


def spec(**overrides):
    return question_spec_build(**photosynthesis_form(**overrides))


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"concepts": " , ,"}, "concepts", "Give at least one key concept (separate several with commas)."),
        ({"topic": "x" * 5000}, "topic", "The topic has 5,000 characters; keep it to 300 (put the rest in the materials)."),  # noqa: E501
        ({"topic": "  "}, "topic", "Give the topic of the lesson."),
        ({"level": ""}, "level", "Give the students' level (a school year such as “year 7”, or a level such as “university”)."),  # noqa: E501
        ({"max_rounds": 0}, "max_rounds", "The most rounds is between 1 and 8."),
        ({"max_rounds": "many"}, "max_rounds", "The most rounds is a whole number."),
        ({"materials": "y" * 20_001}, "materials", "The materials have 20,001 characters; give at most 20,000 (the relevant part)."),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_form_values_are_refused_with_the_field_named(overrides, field, message) -> None:
    with pytest.raises(ApplicationError) as raised:
        spec(**overrides)

    assert raised.value.message == message
    assert raised.value.extra["fields"][field] == message
    assert MAX_TOPIC_CHARS == 300


def test_concepts_are_split_trimmed_and_deduplicated() -> None:
    assert spec(concepts="chlorophyll, Sunlight;sunlight\nglucose ").concepts == ("chlorophyll", "Sunlight", "glucose")


def test_the_stop_signal_ends_the_dialogue_with_the_draft_it_praised(scripted_server: ScriptedServer) -> None:
    scripted_server.drafts = [GOOD, GOOD_2]
    scripted_server.replies = ["How could the question connect to what students see at home?", STOP_SIGNAL]

    outcome = dialogue_generate(spec(max_rounds=4))

    assert [item.coaching for item in outcome.rounds] == [
        "How could the question connect to what students see at home?",
        STOP_SIGNAL,
    ]
    assert [item.coaching_source for item in outcome.rounds] == ["educator", "educator"]
    assert outcome.stop_reason == "signal"
    assert outcome.final_question == GOOD_2["question"]
    assert outcome.final_source == "model"
    assert outcome.final_passes_checks
    assert outcome.provenance == {
        "model_version": "openai-scripted-gpu-stand-in",
        "templates": {
            "student_teacher": "reflection_student_teacher@v3",
            "teacher_educator": "reflection_teacher_educator@v2",
        },
        "checks_version": 1,
        "policy_version": 3,
        "draft_samples": 1,
    }
    # The second draft's prompt carries the first draft and its coaching.
    second_prompt = scripted_server.draft_requests[1]["messages"][-1]["content"]
    assert f"Your draft 1: {GOOD['question']}" in second_prompt
    assert "Coaching on it: How could the question connect to what students see at home?" in second_prompt


def test_a_failing_draft_goes_back_with_the_checks_reason_and_skips_the_teacher_educator(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.drafts = [CLOSED, GOOD]
    scripted_server.replies = [STOP_SIGNAL]

    outcome = dialogue_generate(spec())

    first, second = outcome.rounds
    assert first.coaching_source == "checks"
    assert first.coaching == "The draft can be answered with yes or no: how could you start it with Why or How instead?"
    assert [check["name"] for check in first.checks if not check["passed"]] == ["open", "length"]
    assert "teacher_educator" not in first.provenance
    assert second.is_stop_signal
    assert len(scripted_server.reply_requests) == 1  # only the passing draft reached the Teacher-Educator


def test_a_model_that_never_says_the_signal_stops_at_the_limit_with_the_last_passing_draft(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.drafts = [GOOD, GOOD_2, CLOSED]
    scripted_server.replies = ["Great question! But how could it be deeper?"]  # not the exact signal

    outcome = dialogue_generate(spec(max_rounds=3))

    assert len(outcome.rounds) == 3
    assert outcome.stop_reason == "limit"
    assert not any(item.is_stop_signal for item in outcome.rounds)
    assert outcome.final_question == GOOD_2["question"]
    assert outcome.final_source == "model"


def test_drafts_that_never_pass_are_repaired_in_code_and_recorded_as_such(scripted_server: ScriptedServer) -> None:
    scripted_server.drafts = [OFF_TOPIC, "{not json", "{not json"]
    scripted_server.replies = ["unused"]

    outcome = dialogue_generate(spec(max_rounds=2))

    assert [item.draft_source for item in outcome.rounds] == ["model", "model_failed"]
    assert (
        outcome.rounds[1]
        .provenance["student_teacher"]["error"]
        .startswith("The model could not produce valid Draft JSON in 2 attempts")
    )
    assert outcome.stop_reason == "limit"
    assert outcome.final_source == "repair"
    assert outcome.provenance["repair"] == "template"
    assert (
        outcome.final_question
        == "How are chlorophyll and sunlight connected in Photosynthesis, and why does that link matter?"
    )
    assert outcome.final_passes_checks
    assert scripted_server.reply_requests == []


def test_a_reply_that_is_not_a_question_becomes_coaching_written_in_code(scripted_server: ScriptedServer) -> None:
    scripted_server.drafts = [GOOD]
    scripted_server.replies = ["The draft is fine overall."]

    outcome = dialogue_generate(spec(max_rounds=1))

    (only,) = outcome.rounds
    assert only.coaching_source == "code"
    assert only.coaching == "What situation from year 7 students' own lives could make this question more engaging?"
    # Neither the signal nor a question: the constrained reply is refused, and the refusal is kept.
    assert "could not produce valid EducatorReply JSON" in only.provenance["teacher_educator"]["error"]


def test_a_server_that_is_down_raises_a_clear_model_error(scripted_server: ScriptedServer, monkeypatch) -> None:
    from models_runtime.backends import openai as openai_backend

    monkeypatch.setattr(openai_backend.time, "sleep", lambda seconds: None)
    scripted_server.down_after = 0

    with pytest.raises(models.ModelServerError) as raised:
        dialogue_generate(spec())

    assert scripted_server.base_url in raised.value.message


def test_repair_fixes_a_yes_no_draft_before_falling_back_to_a_template() -> None:
    question, how = question_repair(spec(), "Does chlorophyll use sunlight to make glucose in the leaves of a plant?")

    assert (question, how) == (
        "Why does chlorophyll use sunlight to make glucose in the leaves of a plant?",
        "why_prefix",
    )


def test_one_shot_baseline_is_one_call_without_coaching(scripted_server: ScriptedServer) -> None:
    scripted_server.drafts = [CLOSED]

    draft, checks, _record = one_shot_generate(spec())

    assert draft == CLOSED["question"]
    assert not all(check["passed"] for check in checks)
    assert len(scripted_server.draft_requests) == 1
    assert scripted_server.reply_requests == []


@pytest.mark.timeout(1800)  # the real model on CPU cores shared with the rest of the suite
def test_the_real_local_model_writes_a_round_with_provenance(settings) -> None:
    # The real SmolLM2-135M in-process, with a short budget: whatever it writes, the round is recorded
    # with the model and template versions, and the final question passes the checks (model or repair).
    settings.REFLECTION_DRAFT_MAX_NEW_TOKENS = 32
    settings.REFLECTION_REPLY_MAX_NEW_TOKENS = 8
    settings.REFLECTION_JSON_ATTEMPTS = 1
    settings.REFLECTION_DRAFT_SAMPLES = 1  # best of n (asking again another way): the scripted test below

    outcome = dialogue_generate(spec(max_rounds=1))

    (only,) = outcome.rounds
    assert outcome.provenance["model_version"] == "smollm2-135m-instruct"
    assert only.provenance["student_teacher"]["model_version"] == "smollm2-135m-instruct"
    assert only.provenance["student_teacher"]["prompt_template"] == "reflection_student_teacher@v3"
    assert only.provenance["student_teacher"]["best_of"]["asked"] == 1
    assert only.draft_source in {"model", "model_failed"}
    assert outcome.final_passes_checks
    assert outcome.final_source in {"model", "repair"}


def test_best_of_n_asks_again_until_a_draft_passes_and_records_every_candidate(
    scripted_server: ScriptedServer, settings
) -> None:
    settings.REFLECTION_DRAFT_SAMPLES = 3
    scripted_server.drafts = [CLOSED, GOOD, GOOD_2]
    scripted_server.replies = [STOP_SIGNAL]

    outcome = dialogue_generate(spec(max_rounds=3))

    (only,) = outcome.rounds
    assert only.draft == GOOD["question"] and only.passed and only.is_stop_signal
    best_of = only.provenance["student_teacher"]["best_of"]
    assert (best_of["samples"], best_of["asked"], best_of["chosen"]) == (3, 2, 1)  # stopped at the first passing
    assert [c["question"] for c in best_of["candidates"]] == [CLOSED["question"], GOOD["question"]]
    assert best_of["candidates"][0]["checks_passed"] < 5 == best_of["candidates"][1]["checks_passed"]
    # The second candidate was asked another way (a different angle of the prompt), not the same prompt again.
    first, second = (request["messages"][-1]["content"] for request in scripted_server.draft_requests)
    assert first != second and 'starts with "How does sunlight"' in second
    assert outcome.provenance["draft_samples"] == 3
    assert outcome.final_source == "model" and outcome.stop_reason == "signal"


def test_the_teacher_educator_is_constrained_to_the_signal_or_one_question(scripted_server: ScriptedServer) -> None:
    scripted_server.drafts = [GOOD]
    scripted_server.replies = [STOP_SIGNAL]

    outcome = dialogue_generate(spec(max_rounds=2))

    assert outcome.stop_reason == "signal" and outcome.rounds[0].coaching == STOP_SIGNAL
    (request,) = scripted_server.reply_requests
    choices = request["response_format"]["json_schema"]["schema"]["properties"]["reply"]["anyOf"]
    assert choices[0]["const"] == STOP_SIGNAL
    assert choices[1]["pattern"].endswith("[?]$")
    prompt = request["messages"][-1]["content"]
    assert "Checks in code: one open question of a suitable length; it names chlorophyll, sunlight, glucose" in prompt
