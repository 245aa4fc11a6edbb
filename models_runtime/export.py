"""Write a version as a plain Hugging Face directory that vLLM (`vllm serve DIR`) and transformers load."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from models_runtime.errors import ModelError
from models_runtime.models import ModelVersion
from models_runtime.registry import model_dir_for


def version_export(*, version: ModelVersion | str, target: Path, overwrite: bool = False) -> Path:
    """Copy the version's config, tokenizer and safetensors into `target`, atomically."""
    name = version if isinstance(version, str) else version.name
    source = model_dir_for(version)
    target = Path(target).resolve()
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ModelError(f"{target} already exists and is not empty; choose an empty directory or pass --overwrite.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as staging:
        staged = Path(staging) / "export"
        shutil.copytree(source, staged, ignore=shutil.ignore_patterns("*.lock", ".*"))
        (staged / "tutorloop_export.json").write_text(
            json.dumps({"model_version": name, "source": str(source)}, indent=2), encoding="utf-8"
        )
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target
