from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_export_reloads_with_transformers_and_generates_the_same_greedy_tokens(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models_runtime.registry import model_dir_for

    target = tmp_path / "export"
    call_command("export_model", "smollm2-135m-instruct", str(target))
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {path.name for path in target.iterdir()}

    def greedy(directory: Path) -> list[int]:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        model = AutoModelForCausalLM.from_pretrained(str(directory))
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": "What is 12 divided by 4?"}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        return output[0, inputs["input_ids"].shape[1] :].tolist()

    assert greedy(target) == greedy(model_dir_for("smollm2-135m-instruct"))


def test_export_refuses_a_non_empty_directory_and_unknown_versions(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(CommandError, match="already exists and is not empty"):
        call_command("export_model", "smollm2-135m-instruct", str(tmp_path))
    assert (tmp_path / "keep.txt").read_text() == "precious"
    with pytest.raises(CommandError, match="No model version or directory is called “nope”"):
        call_command("export_model", "nope", str(tmp_path / "x"))
