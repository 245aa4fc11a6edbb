from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from models_runtime.hardware import cpu_has_bf16, dtype_name, model_dtype


def test_auto_picks_bfloat16_only_where_the_cpu_has_bf16_instructions(settings) -> None:
    settings.MODEL_DTYPE = "auto"
    flags = Path("/proc/cpuinfo").read_text()
    assert cpu_has_bf16() == ("amx_bf16" in flags or "avx512_bf16" in flags)
    assert dtype_name() == ("bfloat16" if cpu_has_bf16() else "float32")


def test_the_setting_and_an_explicit_choice_win_over_auto(settings) -> None:
    import torch

    settings.MODEL_DTYPE = "float32"
    assert dtype_name() == "float32"
    assert model_dtype() is torch.float32
    assert model_dtype("bfloat16") is torch.bfloat16


def test_an_unknown_dtype_is_a_clear_configuration_error(settings) -> None:
    settings.MODEL_DTYPE = "float8"
    with pytest.raises(ImproperlyConfigured, match="MODEL_DTYPE is “float8”; use one of: auto, float32, bfloat16"):
        dtype_name()


@pytest.mark.django_db
def test_the_local_engine_runs_in_the_configured_dtype() -> None:
    from models_runtime.backends.local import engine_for
    from models_runtime.registry import model_dir_for

    engine = engine_for(model_dir_for("smollm2-135m-instruct"))
    assert str(engine.model.dtype) == f"torch.{engine.dtype}"
    assert engine.dtype == dtype_name()
