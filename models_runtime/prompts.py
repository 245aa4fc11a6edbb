"""Prompt templates live in files with a version, so every stored output can name what made it.

A template is a TOML file:

    name = "tutor_reply"
    version = 3
    system = '''You are a patient math tutor ...'''
    user = '''Problem: {problem}\nStudent: {student_message}'''

Placeholders use str.format names; every placeholder must be given when rendering.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from models_runtime.errors import ModelError


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    system: str
    user: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"

    def fields(self) -> set[str]:
        names: set[str] = set()
        for text in (self.system, self.user):
            names.update(field for _, field, _, _ in string.Formatter().parse(text) if field)
        return names

    def render(self, **values: Any) -> list[dict[str, str]]:
        missing = self.fields() - set(values)
        if missing:
            raise ModelError(f"The prompt {self.label} needs values for: {', '.join(sorted(missing))}.")
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format(**values)})
        messages.append({"role": "user", "content": self.user.format(**values)})
        return messages


@lru_cache(maxsize=64)
def prompt_load(path: str | Path) -> PromptTemplate:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelError(f"The prompt template {file} could not be read: {error}") from error
    missing = [key for key in ("name", "version", "user") if key not in data]
    if missing:
        raise ModelError(f"The prompt template {file} lacks: {', '.join(missing)}.")
    return PromptTemplate(
        name=str(data["name"]),
        version=int(data["version"]),
        system=str(data.get("system", "")),
        user=str(data["user"]),
        path=str(file),
    )
