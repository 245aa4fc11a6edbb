from __future__ import annotations

from pathlib import Path

import pytest

from models_runtime.errors import ModelError
from models_runtime.prompts import prompt_load


def test_template_renders_and_names_its_version(tmp_path: Path) -> None:
    path = tmp_path / "hint.toml"
    path.write_text('name = "hint"\nversion = 2\nsystem = "Be brief."\nuser = "Problem: {problem}"\n')
    template = prompt_load(path)
    assert template.label == "hint@v2"
    assert template.render(problem="2+2") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Problem: 2+2"},
    ]
    with pytest.raises(ModelError, match="needs values for: problem"):
        template.render()


def test_broken_template_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('version = 1\nuser = "x"\n')
    with pytest.raises(ModelError, match="lacks: name"):
        prompt_load(path)
