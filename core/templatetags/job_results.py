"""A job's result as a reader sees it: labelled rows, nested figures flattened, never a raw Python dict."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def _label(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value) if value else "none"
    if value is None or value == "":
        return "none"
    return str(value)


def _rows(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, item in value.items():
        label = f"{prefix} › {_label(key)}" if prefix else _label(key)
        if isinstance(item, dict):
            rows.extend(_rows(item, label) if item else [(label, "none")])
        else:
            rows.append((label, _text(item)))
    return rows


@register.filter
def result_rows(value: Any) -> list[tuple[str, str]]:
    """[("Graded", "12"), ("Metrics › Heldout › Accuracy", "0.81"), ...] for a job's result."""
    if isinstance(value, dict):
        return _rows(value)
    return [("Result", _text(value))]
