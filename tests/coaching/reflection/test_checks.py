from __future__ import annotations

import pytest

from coaching.reflection.checks import (
    checks_coaching,
    checks_pass,
    copied_sentence,
    level_word_range,
    question_checks,
)

CONCEPTS = ("chlorophyll", "sunlight", "glucose")
GOOD = "Why does chlorophyll need sunlight to make glucose, and how would a plant change in the dark?"


def failed(text: str, *, level: str = "year 7", materials: str = "", concepts=CONCEPTS) -> list[str]:
    results = question_checks(text=text, concepts=concepts, level=level, materials=materials)
    return [result.name for result in results if not result.passed]


def test_a_good_question_passes_every_check() -> None:
    results = question_checks(text=GOOD, concepts=CONCEPTS, level="year 7")

    assert [result.name for result in results] == ["one_question", "names_concept", "open", "length", "not_copied"]
    assert checks_pass(results)
    assert checks_coaching(results) == ""


@pytest.mark.parametrize(
    ("text", "failing"),
    [
        ("", ["one_question", "names_concept", "open", "length"]),
        ("Chlorophyll makes plants green and helps them grow in sunlight.", ["one_question", "open"]),
        ("Why is chlorophyll green? How does sunlight help a plant make its glucose?", ["one_question"]),
        ("Is chlorophyll needed for plants to make glucose from sunlight?", ["open"]),
        ("Does sunlight matter?", ["open", "length"]),
        ("What is the name of the green pigment, chlorophyll, found in plant leaves?", ["open"]),
        ("How many leaves does a plant need to make glucose from chlorophyll?", ["open"]),
        ("Why do people enjoy going to the beach during the long summer holidays?", ["names_concept"]),
    ],
    ids=["empty", "statement", "two-questions", "yes-no", "short-yes-no", "recall-name", "recall-count", "off-topic"],
)
def test_each_failing_draft_names_the_check_it_fails(text: str, failing: list[str]) -> None:
    assert failed(text) == failing


def test_the_reason_of_the_first_failed_check_is_socratic_coaching() -> None:
    results = question_checks(text="Is chlorophyll green?", concepts=CONCEPTS, level="year 7")

    assert checks_coaching(results) == (
        "The draft can be answered with yes or no: how could you start it with Why or How instead?"
    )


def test_plural_and_multiword_concepts_count_as_named() -> None:
    text = "How do greenhouse gases such as carbon dioxide trap heat, and why does that warm the planet?"

    assert failed(text, concepts=("greenhouse gas", "temperature"), level="year 9") == []


def test_length_follows_the_level() -> None:
    long_question = (
        "Why does chlorophyll, the green pigment that sits inside the chloroplasts of the leaf cells of most plants, "
        "need sunlight, and how does it turn that light into the glucose that the plant stores as starch?"
    )

    assert failed(long_question, level="year 3") == ["length"]
    assert failed(long_question, level="university") == []
    assert level_word_range("Year 3").band == "early primary"
    assert level_word_range("grade 11").band == "secondary"
    assert level_word_range("undergraduate").band == "university"
    assert level_word_range("adult learners").maximum == 45
    assert level_word_range("beginners").band == "any level"


def test_copying_a_sentence_of_the_materials_fails() -> None:
    materials = "Plants use the green pigment chlorophyll to capture energy from sunlight. Then they rest."
    copied = "Why do plants use the green pigment chlorophyll to capture energy from sunlight?"

    assert failed(copied, materials=materials) == ["not_copied"]
    assert (
        copied_sentence(copied, materials)
        == "Plants use the green pigment chlorophyll to capture energy from sunlight."
    )
    assert failed(GOOD, materials=materials) == []
    assert copied_sentence(GOOD, "") == ""
