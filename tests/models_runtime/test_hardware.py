from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from models_runtime import hardware
from models_runtime.hardware import cpu_has_bf16, dtype_name, model_dtype


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse2 avx2 avx512f avx512bw avx512_vnni", False),  # AVX-512 without its bf16 extension
        ("fpu sse2 avx2 avx512f avx512_bf16", True),  # Zen 4, Cooper Lake
        ("fpu sse2 avx2 amx_tile amx_bf16 amx_int8", True),  # Sapphire Rapids
        ("fpu sse2 avx2 xavx512_bf16y", False),  # a longer flag that contains the name is not the flag
    ],
)
def test_bf16_is_read_from_the_cpu_flags(tmp_path: Path, flags: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert cpu_has_bf16(cpuinfo) is expected


def test_without_cpuinfo_the_cpu_is_assumed_to_lack_bf16(tmp_path: Path) -> None:
    assert cpu_has_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize(("has_bf16", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_picks_bfloat16_only_where_the_cpu_has_it(
    settings, monkeypatch: pytest.MonkeyPatch, has_bf16: bool, expected: str
) -> None:
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: has_bf16)
    settings.MODEL_DTYPE = "auto"
    assert dtype_name() == expected


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
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_local_engine_loads_its_weights_in_the_dtype_it_is_given(dtype: str) -> None:
    import torch

    from models_runtime.backends.local import engine_for
    from models_runtime.registry import model_dir_for

    engine = engine_for(model_dir_for("smollm2-135m-instruct"), dtype=dtype)
    assert {parameter.dtype for parameter in engine.model.parameters()} == {getattr(torch, dtype)}
