"""What the CPU can do, and the dtype the local models run in.

Prefill (reading a prompt) is matrix multiplication; on CPUs with bf16 instructions (AMX or
AVX512-BF16: Intel Sapphire Rapids and later, AMD Zen 4 and later) bfloat16 runs it several times
faster than float32 (bench/generation.py prints the ratio). Elsewhere bf16 is emulated and slower, so
`MODEL_DTYPE=auto` picks it only where the instructions exist.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    import torch

DTYPES = ("auto", "float32", "bfloat16")


CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_has_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this CPU has native bfloat16 matrix instructions (the flags in /proc/cpuinfo; False elsewhere)."""
    try:
        text = cpuinfo.read_text(errors="ignore")
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}
    return not BF16_FLAGS.isdisjoint(flags)


def dtype_name(requested: str | None = None) -> str:
    """The dtype name local generators load in: `requested`, else the MODEL_DTYPE setting, "auto" resolved."""
    name = (requested or getattr(settings, "MODEL_DTYPE", "auto") or "auto").strip().lower()
    if name not in DTYPES:
        raise ImproperlyConfigured(f"MODEL_DTYPE is “{name}”; use one of: {', '.join(DTYPES)}.")
    if name == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    return name


def model_dtype(requested: str | None = None) -> torch.dtype:
    import torch

    return getattr(torch, dtype_name(requested))
