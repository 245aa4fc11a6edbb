"""Numbers in free text: "$1,200", "18.0", "18 dollars", "eighteen", and small arithmetic expressions.

Pure functions, no Django. The tutor policy compares the numbers a student or a reply states with
the worked solution's results, so this has to be tolerant of units, commas and currency signs.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass

# A digit number, optionally with a currency sign, thousands separators, decimals and a percent sign.
# The look-behind keeps "x2" or "v1.5" from being read as numbers and "50-10" from reading "-10".
NUMBER_RE = re.compile(r"(?<![\w.,])(?P<sign>-(?=\$?\d))?\$?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?!\w)%?")

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)
_WORD_RE = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class NumberMention:
    value: float
    start: int
    end: int
    text: str
    is_word: bool = False


def _digit_mentions(text: str) -> list[NumberMention]:
    mentions = []
    for match in NUMBER_RE.finditer(text):
        raw = match.group("int").replace(",", "") + (match.group("frac") or "")
        value = float(raw)
        if match.group("sign"):
            value = -value
        mentions.append(NumberMention(value=value, start=match.start(), end=match.end(), text=match.group(0)))
    return mentions


def _word_mentions(text: str) -> list[NumberMention]:
    """Spelled-out numbers, e.g. "eighteen", "twenty-five", "one hundred and five"."""
    mentions: list[NumberMention] = []
    words = list(_WORD_RE.finditer(text))
    index = 0
    while index < len(words):
        if words[index].group(0).lower() not in _UNITS and words[index].group(0).lower() not in _TENS:
            index += 1
            continue
        start = end = words[index].start()
        total = current = 0
        last = ""
        while index < len(words):
            match = words[index]
            word = match.group(0).lower()
            gap = text[end : match.start()]
            if end != start and (gap.replace("and", "") if last == "and" else gap).strip(" -"):
                break  # only spaces and hyphens join the parts of one spelled number
            if word in _UNITS and (not last or last in _TENS or last in _SCALES or last == "and"):
                current += _UNITS[word]
            elif word in _TENS and (not last or last in _SCALES or last == "and"):
                current += _TENS[word]
            elif word in _SCALES and last and last != "and":
                current = (current or 1) * _SCALES[word]
                if _SCALES[word] >= 1000:
                    total, current = total + current, 0
            elif word == "and" and last in _SCALES:
                last = word
                index += 1
                continue  # "one hundred and five": not the end yet, but not part of the span either
            else:
                break
            last, end = word, match.end()
            index += 1
        mentions.append(
            NumberMention(value=float(total + current), start=start, end=end, text=text[start:end], is_word=True)
        )
    return mentions


def number_mentions(text: str, *, words: bool = True) -> list[NumberMention]:
    """Every number in `text`, in order of appearance."""
    mentions = _digit_mentions(text)
    if words:
        mentions += _word_mentions(text)
    return sorted(mentions, key=lambda mention: mention.start)


def numbers_in(text: str, *, words: bool = True) -> list[float]:
    return [mention.value for mention in number_mentions(text, words=words)]


def same_number(first: float | None, second: float | None) -> bool:
    if first is None or second is None:
        return False
    return math.isclose(first, second, rel_tol=1e-6, abs_tol=1e-6)


def contains_number(values: Iterable[float], value: float | None) -> bool:
    return any(same_number(candidate, value) for candidate in values)


def parse_number(text: str) -> float | None:
    """The value of an answer such as "$18", "18 dollars", "1,800", "18.0", "3/4" or "eighteen"."""
    cleaned = text.strip()
    fraction = re.fullmatch(r"\s*(-?\d+)\s*/\s*(\d+)\s*", cleaned)
    if fraction and int(fraction.group(2)):
        return int(fraction.group(1)) / int(fraction.group(2))
    values = numbers_in(cleaned)
    return values[-1] if values else None


def format_number(value: float) -> str:
    """18.0 -> "18", 2.5 -> "2.5", 1800 -> "1,800"."""
    if math.isclose(value, round(value), abs_tol=1e-9):
        return f"{round(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    raise ValueError("not plain arithmetic")


def expression_value(expression: str) -> float | None:
    """The value of a small arithmetic expression as people write it ("3 x $68", "50/5", "$10 + $5").

    Words (units such as "bids" or "per bid") and currency signs are dropped; only + - * / and
    parentheses are understood. Anything else gives None: this never runs arbitrary code.
    """
    text = re.sub(r"(?<=\d),(?=\d{3})", "", expression)
    text = re.sub(r"(\d)\s*%", r"(\1/100)", text)
    text = re.sub(r"(?<=[\d)\s])[x×](?=[\s\d($])", "*", text)
    text = text.replace("÷", "/").replace("$", "").replace("−", "-").replace("–", "-")
    text = re.sub(r"[A-Za-z'][A-Za-z'/]*", " ", text)
    if not re.search(r"\d", text) or not re.fullmatch(r"[\d.\s()+\-*/]+", text):
        return None
    try:
        return _evaluate(ast.parse(" ".join(text.split()), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


# "expression = result" as GSM8K and MathDial write a step ("He cuts off 50/5=10 feet"), and students too.
_NUM = r"\(?\s*\$?\d[\d,]*(?:\.\d+)?%?\s*\)?"
_UNIT = r"(?:\s*(?<=\s|\d)(?!x\b)[A-Za-z][A-Za-z'/]*){0,4}"
_OP = r"[-+*/x×÷–−]"
_EXPRESSION = rf"{_NUM}{_UNIT}(?:\s*{_OP}\s*{_NUM}{_UNIT})+"
EQUATION_RE = re.compile(rf"(?P<expression>{_EXPRESSION})\s*=\s*(?P<result>\$?\s?-?\d[\d,]*(?:\.\d+)?%?)")
