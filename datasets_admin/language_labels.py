"""The language-model option for labelling comments: the model serving the "teacher" task (data generation,
SmolLM2 by default) names the categories of a comment from a prompt describing SIGHT's ten. It is the
alternative SIGHT itself used (GPT-3.5 zero-shot); `evaluate_comment_classifier --language-model` measures
it on the same held-out comments as the trained classifier. Every answer carries the model version, the
prompt template version and this policy's version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets_admin.models import CATEGORIES
from models_runtime import api as models_api

PROMPT = Path(__file__).resolve().parent / "prompts" / "comment_labels.toml"
LM_TASK = "teacher"
LM_POLICY_VERSION = "comment-labels-lm-v1"  # the parsing of the answer; bump when it changes
MAX_COMMENT_CHARS = 1000

_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern, re.IGNORECASE))
    for category, pattern in (
        ("general", r"\bgeneral\b"),
        ("setup", r"\bset\s?-?up\b"),
        ("pedagogy", r"\bpedagog"),
        ("confusion", r"\bconfus"),
        ("gratitude", r"\bgratitude\b"),
        ("personal_experience", r"\bpersonal[ _]experience\b"),
        ("clarification", r"\bclarification\b"),
        ("bookmark", r"\bbookmark"),
        ("non_english", r"\bnon[ _-]?english\b"),
        ("na", r"\bnot applicable\b|\bn/?a\b"),
    )
)


def language_model_labels_parse(text: str) -> list[str]:
    """The categories named in the model's answer (its first line), in CATEGORIES' order."""
    first = (text.strip().splitlines() or [""])[0]
    found = {category for category, pattern in _NAMES if pattern.search(first)}
    return [c for c in CATEGORIES if c in found]


def comments_label_with_language_model(
    *, texts: Sequence[str], batch_size: int = 8
) -> tuple[list[list[str]], dict[str, Any]]:
    """Labels per comment from the language model, and the provenance shared by all of them.

    Raises models_runtime's ModelError (and its kinds) when no model can answer.
    """
    template = models_api.prompt_load(PROMPT)
    labels: list[list[str]] = []
    provenance: dict[str, Any] = {"prompt_template": template.label, "policy_version": LM_POLICY_VERSION}
    for start in range(0, len(texts), batch_size):
        conversations = [
            template.render(comment=text[:MAX_COMMENT_CHARS].replace(">>>", "> > >"))
            for text in texts[start : start + batch_size]
        ]
        generations = models_api.chat_batch(
            task=LM_TASK, conversations=conversations, template=template, max_new_tokens=24, stop=["\n"]
        )
        for generation in generations:
            labels.append(language_model_labels_parse(generation.text))
            provenance = {**generation.provenance, "policy_version": LM_POLICY_VERSION}
    return labels, provenance
