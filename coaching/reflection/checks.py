"""The checks in code that every draft passes before the Teacher-Educator sees it.

Each check returns its name, whether it passed, and (when it failed) a reason written as Socratic
coaching, so that the reason can go back to the Student-Teacher as the next round's coaching.
Bump CHECKS_VERSION when a check's behaviour changes: it is stored with every result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

CHECKS_VERSION = 1

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A question that opens with an auxiliary verb is answered with yes or no.
CLOSED_OPENERS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "shall",
        "has",
        "have",
        "had",
        "may",
        "might",
        "must",
        "isn't",
        "aren't",
        "doesn't",
        "don't",
        "didn't",
        "can't",
        "won't",
    ]
)
# Openers that ask for one fact (a name, a date, a place, a count).
RECALL_PATTERNS = (
    re.compile(r"^(who|when|where|which)\b"),
    re.compile(r"^how (many|much|long|old|far)\b"),
    re.compile(r"^what (is|are|was|were) (the )?(name|names|date|year|definition|formula|capital|value|number)\b"),
    re.compile(r"^(name|list|define|state|identify)\b"),
)
# Stems that ask for reasoning, explanation, comparison or judgement.
OPEN_STEMS = re.compile(
    r"\b(why|how|explain|in what ways?|what (would|might|could|does|do|did|makes|happens|happen|if|role|"
    r"difference|connects?|links?)|to what extent|compare|what do you think|describe how|justify|predict)\b"
)
COPY_SHINGLE_WORDS = 8


@dataclass(frozen=True)
class WordRange:
    minimum: int
    maximum: int
    band: str


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    reason: str = ""


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def level_word_range(level: str) -> WordRange:
    """How long a question may be for a level: a school year (`year 7`, `grade 3`, `Y10`, `K`) or a
    level name (primary, middle school, secondary, university...). Unknown levels get the widest range."""
    text = level.lower()
    year_match = re.search(r"\b(?:year|grade|yr|y|class)\s*(\d{1,2})\b", text) or re.fullmatch(r"\s*(\d{1,2})\s*", text)
    if year_match:
        year = int(year_match.group(1))
        if year <= 4:
            return WordRange(5, 18, "early primary")
        if year <= 6:
            return WordRange(6, 24, "primary")
        if year <= 9:
            return WordRange(7, 30, "middle school")
        return WordRange(8, 36, "secondary")
    if re.search(r"\b(k|kindergarten|reception|infant)\b", text):
        return WordRange(5, 16, "early primary")
    if re.search(r"\b(primary|elementary)\b", text):
        return WordRange(6, 24, "primary")
    if re.search(r"\b(middle|junior high|lower secondary|ks3)\b", text):
        return WordRange(7, 30, "middle school")
    if re.search(r"\b(secondary|high school|upper|gcse|a-level|a level|ks4|ks5|sixth form)\b", text):
        return WordRange(8, 36, "secondary")
    if re.search(r"\b(university|undergraduate|graduate|college|postgraduate|adult|professional|teacher)\b", text):
        return WordRange(8, 45, "university")
    return WordRange(6, 45, "any level")


def _forms(word: str) -> set[str]:
    """The word and its singular guesses (gases: gas; plates: plate), enough to match a plural."""
    forms = {word}
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
        if word.endswith("es"):
            forms.add(word[:-2])
    return forms


def concepts_named(text: str, concepts: Sequence[str]) -> list[str]:
    """The key concepts the text names: every word of the concept appears (plural or singular)."""
    present: set[str] = set()
    for word in words(text):
        present |= _forms(word)
    named = []
    for concept in concepts:
        terms = words(concept)
        if terms and all(_forms(term) & present for term in terms):
            named.append(concept)
    return named


def _shingles(tokens: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def copied_sentence(text: str, materials: str) -> str:
    """A sentence of the materials that the text copies (eight words in a row, or the whole of a
    shorter sentence of at least five words), or an empty string."""
    if not materials.strip():
        return ""
    draft_tokens = words(text)
    draft_joined = " " + " ".join(draft_tokens) + " "
    draft_shingles = _shingles(draft_tokens, COPY_SHINGLE_WORDS)
    for sentence in _SENTENCE_END.split(materials):
        tokens = words(sentence)
        if len(tokens) >= COPY_SHINGLE_WORDS:
            if _shingles(tokens, COPY_SHINGLE_WORDS) & draft_shingles:
                return sentence.strip()
        elif len(tokens) >= 5 and " " + " ".join(tokens) + " " in draft_joined:
            return sentence.strip()
    return ""


def question_checks(*, text: str, concepts: Sequence[str], level: str, materials: str = "") -> list[CheckResult]:
    """Run every check on a draft; the order is the order the reasons go back in."""
    stripped = text.strip()
    tokens = words(stripped)
    results: list[CheckResult] = []

    marks = stripped.count("?")
    sentences = [part for part in _SENTENCE_END.split(stripped) if part.strip()]
    if not stripped:
        results.append(CheckResult("one_question", False, "The draft is empty: what one question would you ask?"))
    elif marks == 0 or not stripped.endswith("?"):
        results.append(
            CheckResult(
                "one_question", False, "The draft is not a question: how would you end it with one question mark?"
            )
        )
    elif marks > 1 or len(sentences) > 2:
        results.append(
            CheckResult(
                "one_question",
                False,
                f"The draft asks {marks} questions: which one of them matters most, so that you ask only that one?",
            )
        )
    else:
        results.append(CheckResult("one_question", True))

    named = concepts_named(stripped, concepts)
    if named:
        results.append(CheckResult("names_concept", True))
    else:
        listed = ", ".join(concept for concept in concepts if concept.strip())
        results.append(
            CheckResult(
                "names_concept",
                False,
                f"The draft names none of the key concepts ({listed}): which of them could the question be about?",
            )
        )

    opener = tokens[0] if tokens else ""
    question_part = stripped.split(". ")[-1].lower() if stripped else ""
    question_opener = words(question_part)[:1]
    lowered = " ".join(words(question_part))
    if opener in CLOSED_OPENERS or (question_opener and question_opener[0] in CLOSED_OPENERS):
        results.append(
            CheckResult(
                "open",
                False,
                "The draft can be answered with yes or no: how could you start it with Why or How instead?",
            )
        )
    elif any(pattern.search(lowered) for pattern in RECALL_PATTERNS):
        results.append(
            CheckResult(
                "open",
                False,
                "The draft asks students to recall one fact: what could they explain or reason about instead?",
            )
        )
    elif not OPEN_STEMS.search(lowered):
        results.append(
            CheckResult(
                "open",
                False,
                "The draft does not ask students to reason: how could you ask them why, how or what would happen?",
            )
        )
    else:
        results.append(CheckResult("open", True))

    word_range = level_word_range(level)
    count = len(tokens)
    if count < word_range.minimum:
        results.append(
            CheckResult(
                "length",
                False,
                f"The draft has {count} words, too few for {word_range.band} students "
                f"({word_range.minimum}-{word_range.maximum}): what context would make it clear?",
            )
        )
    elif count > word_range.maximum:
        results.append(
            CheckResult(
                "length",
                False,
                f"The draft has {count} words, too many for {word_range.band} students "
                f"({word_range.minimum}-{word_range.maximum}): what could you leave out?",
            )
        )
    else:
        results.append(CheckResult("length", True))

    copied = copied_sentence(stripped, materials)
    if copied:
        results.append(
            CheckResult(
                "not_copied",
                False,
                f"The draft copies the materials (“{copied[:120]}”): how would you ask about it in your own words?",
            )
        )
    else:
        results.append(CheckResult("not_copied", True))
    return results


def checks_as_data(results: Sequence[CheckResult]) -> list[dict[str, object]]:
    return [asdict(result) for result in results]


def checks_pass(results: Sequence[CheckResult] | Sequence[dict[str, object]]) -> bool:
    return bool(results) and all(
        (result["passed"] if isinstance(result, dict) else result.passed) for result in results
    )


def checks_coaching(results: Sequence[CheckResult]) -> str:
    """The coaching for a failed draft: the first failed check's reason (one question at a time)."""
    failed = [result.reason for result in results if not result.passed]
    return failed[0] if failed else ""
