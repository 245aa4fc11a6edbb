"""Small text checks shared by the apps that screen model output."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD_RE = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words and numbers, apostrophes kept ("isn't" is one word)."""
    return _WORD_RE.findall(text.lower())


def repeats_span(text: str, sources: Iterable[str], *, span: int, allowed: str = "") -> bool:
    """Whether `text` repeats `span` words in a row of one of `sources` that `allowed` does not contain.

    The tutor uses it to catch a reply that parrots the student; grading, feedback that quotes a hidden
    reference answer the student did not write themselves.
    """
    written = words(text)
    grams = {" ".join(written[i : i + span]) for i in range(len(written) - span + 1)}
    if not grams:
        return False
    allowed_text = " ".join(words(allowed))
    for source in sources:
        said = words(source)
        for i in range(len(said) - span + 1):
            gram = " ".join(said[i : i + span])
            if gram in grams and gram not in allowed_text:
                return True
    return False
