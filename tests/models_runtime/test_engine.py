"""The local engine's continuous batching, against the real bundled model (float32: exact greedy text)."""

from __future__ import annotations

import json

import pytest

from models_runtime.backends.local import engine_for
from models_runtime.registry import model_dir_for
from models_runtime.types import ChatRequest

pytestmark = pytest.mark.django_db

STORY = [{"role": "user", "content": "Write a long story about a dragon who learns algebra."}]
SHORT = [{"role": "user", "content": "What is 12 divided by 4?"}]
PRIME = [{"role": "user", "content": "Name a prime number bigger than ten."}]


@pytest.fixture
def engine():
    return engine_for(model_dir_for("smollm2-135m-instruct"), dtype="float32")


def test_a_request_joins_a_reply_in_flight_instead_of_waiting_for_it(engine) -> None:
    alone = engine.complete(ChatRequest(messages=SHORT, max_new_tokens=12)).text
    long = engine.submit(ChatRequest(messages=STORY, max_new_tokens=200))
    next(iter(long))  # the long reply is being written
    short = engine.submit(ChatRequest(messages=SHORT, max_new_tokens=12)).result()
    # The short reply is done while the long one is still being written, and it is the same text as alone.
    assert long._job.finish_reason is None
    assert short.text == alone
    assert long.result().completion_tokens > short.completion_tokens


def test_rows_of_different_lengths_finish_on_their_own_and_match_one_by_one(engine) -> None:
    requests = [
        ChatRequest(messages=STORY, max_new_tokens=60),
        ChatRequest(messages=SHORT, max_new_tokens=5),
        ChatRequest(messages=PRIME, max_new_tokens=20),
    ]
    together = engine.complete_batch(requests)
    alone = [engine.complete(request) for request in requests]
    assert [result.text for result in together] == [result.text for result in alone]
    assert [result.completion_tokens for result in together][1] <= 5


def test_a_seeded_sample_is_the_same_alone_and_beside_other_requests(engine) -> None:
    def seeded(seed: int) -> ChatRequest:
        return ChatRequest(messages=STORY, max_new_tokens=24, temperature=0.9, seed=seed)

    alone = engine.complete(seeded(7)).text
    handles = [
        engine.submit(seeded(7)),
        engine.submit(ChatRequest(messages=PRIME, max_new_tokens=24)),
        engine.submit(seeded(8)),
    ]
    texts = [handle.result().text for handle in handles]
    assert texts[0] == alone
    assert texts[2] != alone  # another seed, another sample


GRADE = [
    {"role": "user", "content": "Grade the answer '7' to 'What is 3+4?'. Reply in JSON with a label and a reason."}
]
GRADE_SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"enum": ["correct", "partially_correct", "incorrect"]},
        "reason": {"type": "string", "minLength": 1, "maxLength": 80},
    },
    "required": ["label", "reason"],
    "additionalProperties": False,
}


def test_a_json_request_is_valid_for_its_schema_and_the_same_greedy_text_every_time(engine) -> None:
    # The text the xgrammar-constrained `generate` path wrote on this prompt (float32, greedy) when this test
    # was written; a change to how the grammar is applied must keep it.
    first = engine.complete(ChatRequest(messages=GRADE, max_new_tokens=48, json_schema=GRADE_SCHEMA))
    again = engine.complete(ChatRequest(messages=GRADE, max_new_tokens=48, json_schema=GRADE_SCHEMA))
    reply = json.loads(first.text)
    assert set(reply) == {"label", "reason"}
    assert reply["label"] in {"correct", "partially_correct", "incorrect"}
    assert 1 <= len(reply["reason"]) <= 80
    assert first.text == '{"label": "incorrect", "reason": "3 + 4 = 7"}'
    assert first.finish_reason == "stop"
    assert again.text == first.text
    # Unconstrained, the model writes no JSON at all on this prompt: the grammar is what made it JSON.
    free = engine.complete(ChatRequest(messages=GRADE, max_new_tokens=48)).text
    assert not free.lstrip().startswith("{")
