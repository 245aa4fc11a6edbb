"""A distilled version (a Hugging Face directory, as training writes it) is exported to GGUF when it is
registered, and the model server serves it by name with the original's greedy text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models_runtime import api as models
from models_runtime import model_server
from models_runtime.backends.local import LocalEngine, engine_for
from models_runtime.backends.openai import OpenAIBackend
from models_runtime.conversion import DEFAULT_STUDENT_NAME
from models_runtime.errors import ModelFilesError
from models_runtime.models import ModelVersion
from models_runtime.types import ChatRequest
from tests.models_runtime.conftest import LlamaServer
from tests.models_runtime.greedy_check import EXACT_AT_LEAST, NEAR_TIE, NEW_TOKENS, PROMPTS


def top_two_margin(engine: LocalEngine, messages: list[dict[str, str]], continuation: list[int]) -> float:
    """How far apart the original's two most likely next tokens are, after the prompt and `continuation`."""
    import torch

    ids = engine.prompt_ids(messages) + continuation
    with torch.inference_mode():
        probabilities = engine.model(torch.tensor([ids])).logits[0, -1].float().softmax(-1)
    first, second = probabilities.topk(2).values.tolist()
    return first - second


@pytest.mark.django_db
def test_a_registered_version_is_exported_and_served_with_the_originals_greedy_text(
    llama_server: LlamaServer, settings, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    original = models.model_dir_for(DEFAULT_STUDENT_NAME)  # float32 safetensors, as a training run writes
    distilled = tmp_path / "tutor-distilled"
    shutil.copytree(original, distilled, ignore=shutil.ignore_patterns("*.lock", ".*"))
    settings.MODELS_DIR = llama_server.models_dir  # the server's preset is models_dir / model-server.ini
    settings.MODEL_SERVER_URL = llama_server.base_url

    with django_capture_on_commit_callbacks(execute=True):
        version = models.version_register(
            name="tutor-distilled",
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
            kind="generator",
            location=str(distilled),
            tasks=["tutor"],
        )

    exported = llama_server.models_dir / "gguf" / "tutor-distilled.gguf"
    assert exported.is_file()
    assert exported.read_bytes()[:4] == b"GGUF"
    assert f"[tutor-distilled]\nmodel = {exported.resolve()}\n" in model_server.preset_path().read_text()

    # Registering asked the running server to read the preset again: it serves the version by name now.
    served = OpenAIBackend(base_url=llama_server.base_url, model=version.name, timeout=300)
    engine = engine_for(distilled, name=version.name, dtype="float32")
    exact = 0
    for text in PROMPTS:
        messages = [{"role": "user", "content": text}]
        request = ChatRequest(messages=messages, max_new_tokens=NEW_TOKENS)
        served_text, local_text = served.complete(request).text, engine.complete(request).text
        if served_text == local_text:
            exact += 1
            continue
        served_ids = engine.tokenizer.encode(served_text, add_special_tokens=False)
        local_ids = engine.tokenizer.encode(local_text, add_special_tokens=False)
        pairs = zip(served_ids, local_ids, strict=False)
        parted = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(served_ids), len(local_ids)))
        margin = top_two_margin(engine, messages, local_ids[:parted])
        assert margin < NEAR_TIE, (text, served_text, local_text, margin)
    assert exact >= EXACT_AT_LEAST


@pytest.mark.django_db
def test_a_version_that_cannot_be_exported_is_not_registered(settings, tmp_path: Path) -> None:
    settings.MODELS_DIR = tmp_path / "models"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"architectures": ["NoSuchModelForCausalLM"]}))
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_text("{}")

    with pytest.raises(ModelFilesError, match="could not be exported to GGUF for the model server"):
        models.version_register(name="broken", base_model="?", kind="generator", location=str(broken), tasks=["tutor"])

    assert not ModelVersion.objects.filter(name="broken").exists()
    assert list((tmp_path / "models" / "gguf").iterdir()) == []  # no half-written file left behind
