"""Sentence-level checks on what the tutor says: whole sentences, well formed, with the right polarity.

Pure functions over text (no Django, no model). The gate (`tutor.policy.gate.ReplyGate`) runs them on every
sentence the model writes and on the policy's own planned text, so that a garbled template sentence
("What is the height of the hill is the difference ... which?") is caught by the same rule as a garbled
model sentence.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? followed by a space or the end, but not inside a number ("2.5", "$1.50").
_SENTENCE_END_RE = re.compile(r"[!?]+(?=[\s\"”]|$)|(?<!\d)\.+(?=[\s\"”]|$)|(?<=\d)\.+(?=\s+[A-Z\"“]|\s*$)")

_AFFIRM_RE = re.compile(
    r"\b(?:yes|yeah|yep|correct|correctly|right|well done|good job|great job|nice job|exactly|perfect|spot on|"
    r"excellent|nice work|great work|good work|that's it|you got it|you've got it|you solved|solved it|"
    r"brilliant|awesome)\b",
    re.IGNORECASE,
)
_NEGATE_RE = re.compile(
    r"\b(?:no|not|incorrect|incorrectly|wrong|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|can't|cannot|"
    r"mistake|mistakes|error|errors|almost|nearly|close|try again|recheck|re-check|unfortunately|sorry|"
    r"however|but)\b",
    re.IGNORECASE,
)
_DANGLING_END_RE = re.compile(
    r"\b(?:which|that|of|to|the|a|an|and|or|but|is|are|was|were|because|since|so|for|with|by|from|as|than|"
    r"his|her|their|its|my|your|our|in|on|at)\s*[.!?]+$",  # case-sensitive: "how many A?" ends on a unit
)
_COPULA_RE = re.compile(r"\b(?:is|are|was|were)\b", re.IGNORECASE)
# A second copula in a "What is ...?" question is fine inside a clause: "what is the number that is left".
_CLAUSE_OPENER_RE = re.compile(
    r"\b(?:that|which|who|whom|whose|what|how|when|where|while|if|because|since|after|before|until|once|"
    r"there|it|this|he|she|they|we|you|i)\b",
    re.IGNORECASE,
)
_REPEATED_WORD_RE = re.compile(r"\b([A-Za-z']+)\s+\1\b", re.IGNORECASE)


def sentences_of(text: str) -> list[str]:
    """The sentences of `text`, each with its end mark; the last may be unfinished."""
    found = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        sentence = text[start : match.end()].strip()
        if sentence:
            found.append(sentence)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        found.append(rest)
    return found


def whole_sentences_end(text: str, *, is_final: bool = True) -> int:
    """Where the last whole sentence of `text` ends (0 when there is none yet).

    While the text is still coming (`is_final=False`) a "." right after a digit at the very end may be a
    decimal point ("costs 2." then "50"): that sentence is not whole until something follows.
    """
    ends = [
        match.end()
        for match in _SENTENCE_END_RE.finditer(text)
        if is_final or not (text[match.start() - 1 : match.start()].isdigit() and not text[match.end() :].strip())
    ]
    return ends[-1] if ends else 0


def affirms(sentence: str) -> bool:
    return bool(_AFFIRM_RE.search(sentence))


def negates(sentence: str) -> bool:
    return bool(_NEGATE_RE.search(sentence))


def ill_formed_reason(sentence: str) -> str | None:
    """Why this sentence is not well formed, or None. Conservative: these are the shapes seen garbled."""
    text = sentence.strip()
    if not text:
        return "an empty sentence"
    if not re.search(r"[.!?]$", text):
        return "an unfinished sentence"
    if "…" in text or "..." in text:
        return "a sentence with a gap (…)"
    first = text.lstrip("“\"'(")[:1]
    if first.isalpha() and not first.isupper():
        return "a sentence that does not start with a capital"
    if _DANGLING_END_RE.search(text):
        return "a sentence that ends on a dangling word"
    for repeated in _REPEATED_WORD_RE.finditer(text):
        if repeated.group(1).lower() not in ("had", "that", "very", "ha"):
            return f"a repeated word (“{repeated.group(0)}”)"
    if text.count("(") != text.count(")") or text.count("“") != text.count("”") or text.count('"') % 2:
        return "unbalanced brackets or quotes"
    if re.search(r"[?!.]\s*[?!.]", text[:-1]):
        return "a stray end mark"
    question = re.match(r"(?:(?:Okay|So|And|Now),?\s+(?:so\s+)?)?(?:what|which)\s+(?:is|are|was|were)\b", text, re.I)
    if question and text.endswith("?"):
        rest = text[question.end() :]
        for copula in _COPULA_RE.finditer(rest):
            if not _CLAUSE_OPENER_RE.search(rest[: copula.start()]):  # "... that Carla was asked" is a clause
                return "a question with two main verbs (“what is … is …”)"
    if re.search(r"\b(?:how many|how much)\b[^?:]*\b(?:how many|how much)\b", text, re.I):
        return "a question that asks twice"
    return None
