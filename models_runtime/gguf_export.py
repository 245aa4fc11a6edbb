"""Export a Hugging Face model directory (what training writes) to the GGUF file the model server loads.

The converter is llama.cpp's own `convert_hf_to_gguf.py`, from the same llama-cpp-python source package
the server binary is built from (so the two always agree on the format). `make install` copies it, its
`conversion/` package, its `gguf-py/` and llama.cpp's MIT LICENSE into `.venv/share/llama.cpp-convert/`;
MODEL_GGUF_CONVERTER names another copy. It runs in a subprocess, with its own `gguf-py` first on the
path, so the converter's version of that package never mixes with the one installed for transformers.

The export is q8_0 (8-bit; 145 MB for the 135M student): close to the float32 weights (the test compares
greedy text on fixed prompts, `tests/models_runtime/test_gguf.py`) at about half the memory traffic of
f16, which is what decode speed on a CPU is bound by. The file is written beside the target and renamed
into place, so a reader never sees half of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from models_runtime.errors import ModelFilesError

CONVERTER_DIR_NAME = "llama.cpp-convert"
CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
EXPORT_TYPE = "q8_0"
TIMEOUT_SECONDS = 30 * 60


def converter_path() -> Path:
    configured = os.environ.get("MODEL_GGUF_CONVERTER", "")
    path = Path(configured) if configured else Path(sys.prefix) / "share" / CONVERTER_DIR_NAME / CONVERTER_SCRIPT
    if not path.is_file():
        raise ModelFilesError(
            f"llama.cpp's GGUF converter is not installed at {path}: run `make install` (it copies it from the "
            "llama-cpp-python source package), or set MODEL_GGUF_CONVERTER to a convert_hf_to_gguf.py."
        )
    return path


def gguf_export(*, source: Path, target: Path, outtype: str = EXPORT_TYPE) -> Path:
    """Convert the Hugging Face directory `source` into the GGUF file `target` (atomically)."""
    script = converter_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".partial")
    os.close(handle)
    staging = Path(staging_name)
    environment = {key: value for key, value in os.environ.items() if key != "NO_LOCAL_GGUF"}
    environment["PYTHONPATH"] = os.pathsep.join([str(script.parent / "gguf-py"), str(script.parent)])
    command = [sys.executable, str(script), str(source), "--outfile", str(staging), "--outtype", outtype]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=environment, check=False
        )
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            raise ModelFilesError(
                f"The model in {source} could not be exported to GGUF for the model server: "
                f"{lines[-1] if lines else f'the converter exited with status {done.returncode}'}"
            )
        staging.chmod(0o644)
        os.replace(staging, target)
    except subprocess.TimeoutExpired:
        raise ModelFilesError(
            f"Exporting {source} to GGUF took longer than {TIMEOUT_SECONDS // 60} minutes and was stopped."
        ) from None
    finally:
        staging.unlink(missing_ok=True)
    return target
