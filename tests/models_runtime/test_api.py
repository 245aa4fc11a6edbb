"""The public model api against the real bundled student model (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from models_runtime import api
from models_runtime.errors import PromptTooLongError, StructuredOutputError

pytestmark = pytest.mark.django_db

QUESTION = [{"role": "user", "content": "What is 3 plus 4? Answer with a number."}]


def test_chat_returns_text_with_provenance() -> None:
    generation = api.chat(task="feedback", messages=QUESTION, max_new_tokens=12)
    assert generation.text
    assert generation.model_version == "smollm2-135m-instruct"
    assert generation.provenance == {"model_version": "smollm2-135m-instruct"}
    assert 0 < generation.completion_tokens <= 12


def test_greedy_chat_is_deterministic_and_stream_matches_it() -> None:
    first = api.chat(task="tutor", messages=QUESTION, max_new_tokens=16)
    second = api.chat(task="tutor", messages=QUESTION, max_new_tokens=16)
    stream = api.chat_stream(task="tutor", messages=QUESTION, max_new_tokens=16)
    pieces = list(stream)
    assert first.text == second.text
    assert len(pieces) > 1
    assert "".join(pieces).strip() == first.text
    assert stream.result().text == first.text


def test_batch_gives_the_same_answers_as_one_by_one(settings) -> None:
    # In float32 padding changes nothing; in bfloat16 (MODEL_DTYPE=auto on CPUs with bf16 instructions) the
    # rounding of a padded batch can flip a near-tie, as on any batching server.
    settings.MODEL_DTYPE = "float32"
    conversations = [
        QUESTION,
        [{"role": "user", "content": "Name a prime number bigger than ten."}],
        [{"role": "user", "content": "Say hello to a student called Ada in one short sentence."}],
    ]
    batch = api.chat_batch(task="feedback", conversations=conversations, max_new_tokens=10)
    singles = [api.chat(task="feedback", messages=messages, max_new_tokens=10) for messages in conversations]
    assert [generation.text for generation in batch] == [generation.text for generation in singles]


def test_cancelling_a_stream_stops_it_early() -> None:
    stream = api.chat_stream(
        task="tutor", messages=[{"role": "user", "content": "Tell a long story."}], max_new_tokens=200
    )
    iterator = iter(stream)
    next(iterator)
    stream.cancel()
    list(iterator)
    result = stream.result()
    assert result.finish_reason == "cancelled"
    assert result.completion_tokens < 50


def test_stop_strings_end_the_reply() -> None:
    generation = api.chat(
        task="tutor",
        messages=[{"role": "user", "content": "Count: one, two, three, four, five."}],
        max_new_tokens=40,
        stop=[","],
    )
    assert "," not in generation.text


class Verdict(BaseModel):
    label: str = Field(pattern="^(correct|partially_correct|incorrect)$")
    score: float = Field(ge=0, le=1)


def test_json_output_matches_the_schema() -> None:
    verdict, generation = api.chat_json(
        task="feedback",
        schema=Verdict,
        max_new_tokens=40,
        messages=[{"role": "user", "content": "Grade the answer '7' to 'What is 3+4?'. Reply in JSON."}],
    )
    assert isinstance(verdict, Verdict)
    assert verdict.label in {"correct", "partially_correct", "incorrect"}
    assert generation.provenance["model_version"] == "smollm2-135m-instruct"


class Impossible(BaseModel):
    essay: str = Field(min_length=500)


def test_unsatisfiable_schema_raises_a_typed_error_after_bounded_attempts() -> None:
    with pytest.raises(StructuredOutputError, match=r"could not produce valid Impossible JSON in 2 attempts"):
        api.chat_json(
            task="feedback",
            schema=Impossible,
            max_new_tokens=8,
            attempts=2,
            messages=[{"role": "user", "content": "Write an essay."}],
        )


def test_prompt_longer_than_the_context_window_is_refused() -> None:
    huge = "word " * 9000
    with pytest.raises(PromptTooLongError, match=r"exceeds the model's context window of 8,192 tokens"):
        api.chat(task="tutor", messages=[{"role": "user", "content": huge}], max_new_tokens=8)


def test_embeddings_are_normalised_and_batched() -> None:
    vectors = api.embed(["the sliding window protocol", "piggybacking needs a duplex channel", ""])
    assert vectors.shape == (3, 384)
    norms = (vectors[:2] ** 2).sum(axis=1)
    assert norms == pytest.approx([1.0, 1.0], abs=1e-4)


def test_embeddings_seen_before_come_from_the_cache_and_only_new_texts_are_encoded(monkeypatch) -> None:
    from models_runtime import embeddings

    monkeypatch.setattr(embeddings, "_cache", embeddings.OrderedDict())
    model = embeddings.embedding_model()
    encoded: list[list[str]] = []
    real_encode = model.encode

    def counting_encode(texts, **kwargs):
        encoded.append(list(texts))
        return real_encode(texts, **kwargs)

    monkeypatch.setattr(model, "encode", counting_encode)
    first = api.embed(["a window of frames", "an acknowledgement", "a window of frames"])
    second = api.embed(["an acknowledgement", "a new answer", "a window of frames"])
    assert encoded == [["a window of frames", "an acknowledgement"], ["a new answer"]]
    assert second[0] == pytest.approx(first[1])
    assert second[2] == pytest.approx(first[0])
    second[0][:] = 0.0  # the caller's array is its own: the cache is not changed through it
    assert api.embed(["an acknowledgement"])[0] == pytest.approx(first[1])


def test_the_embedding_cache_is_bounded(monkeypatch) -> None:
    from models_runtime import embeddings

    monkeypatch.setattr(embeddings, "_cache", embeddings.OrderedDict())
    monkeypatch.setattr(embeddings, "CACHE_SIZE", 2)
    api.embed(["one", "two", "three"])
    assert [text for _, text in embeddings._cache] == ["two", "three"]
