from __future__ import annotations

from core.text import repeats_span, words


def test_words_keep_apostrophes_and_numbers() -> None:
    assert words("Julia's 12 spoons, isn't it?") == ["julia's", "12", "spoons", "isn't", "it"]


def test_a_span_repeated_from_a_source_is_found_unless_allowed() -> None:
    source = "Both sides agree on the initial sequence numbers before sending data."
    quoting = "Good start. Both sides agree on the initial sequence numbers, as you said."
    assert repeats_span(quoting, [source], span=6)
    assert not repeats_span(quoting, [source], span=6, allowed="both sides agree on the initial sequence numbers")
    assert not repeats_span("Both sides agree on numbers.", [source], span=6)  # shorter than the span
    assert not repeats_span(quoting, [], span=6)
