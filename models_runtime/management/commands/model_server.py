"""Run the one model server: `python manage.py model_server` (the Procfile's `model` line; `make run` starts it).

llama.cpp's llama-server, in router mode over every servable generator version (see
models_runtime/model_server.py), listening where MODEL_SERVER_URL says. Web and workers send it every
generation; it batches all of them together. Ctrl-C (or SIGTERM) stops it.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from models_runtime import model_server
from models_runtime.errors import ModelError

START_TIMEOUT_SECONDS = 300


class Command(BaseCommand):
    help = "Run llama.cpp's server over every servable generator version, where MODEL_SERVER_URL points."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="Address to listen on (default: MODEL_SERVER_URL's host).")
        parser.add_argument("--port", type=int, default=None, help="Port (default: MODEL_SERVER_URL's port).")
        parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: MODEL_SERVER_THREADS).")
        parser.add_argument(
            "--slots", type=int, default=None, help="Streams written together (default: MODEL_SERVER_SLOTS)."
        )
        parser.add_argument(
            "--prepare",
            action="store_true",
            help="Only write the model files the server reads (the q8_0 student, the preset), then exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["prepare"]:
            # `make run` does this before it prints its address: converting the student and re-encoding it as
            # q8_0 takes a minute or more on a busy 2-core machine (once; the files stay in MODELS_DIR), and
            # done after the address it held back the model server and shared the CPU with the first grader.
            self.stdout.write(f"The model server's files are ready: {self._preset_write()}")
            return
        if not model_server.server_url():
            raise CommandError("MODEL_SERVER_URL is empty, so generation runs in-process: there is no server to run.")
        try:
            host, port = model_server.server_address()
            model_server.binary_path()  # a missing server is said at once, before a minute of preparing its files
            preset = self._preset_write()
            command = model_server.server_command(
                host=options["host"] or host,
                port=options["port"] or port,
                preset=preset,
                threads=options["threads"] if options["threads"] is not None else settings.MODEL_SERVER_THREADS,
                slots=options["slots"] or settings.MODEL_SERVER_SLOTS,
                context=settings.MODEL_SERVER_CONTEXT,
            )
        except ModelError as error:
            raise CommandError(error.message) from None
        url = f"http://{options['host'] or host}:{options['port'] or port}"
        self.stdout.write(f"Starting llama.cpp's server at {url}/v1 over {preset}")
        process = subprocess.Popen(command)  # its log goes to ours (honcho prefixes it with "model")

        def stop(signum: int, frame: FrameType | None) -> None:
            process.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self._wait_until_ready(process, url)
        code = process.wait()
        if code not in (0, -signal.SIGTERM, -signal.SIGINT):
            raise CommandError(f"llama.cpp's server stopped with status {code}; its log above says why.")

    def _preset_write(self) -> Path:
        try:
            return model_server.preset_write()
        except DatabaseError as error:
            raise CommandError(
                f"Could not read the model registry ({error}). Run `python manage.py migrate`."
            ) from None

    def _wait_until_ready(self, process: subprocess.Popen[bytes], url: str) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    self.stdout.write(f"The model server is ready at {url}/v1")
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        if process.poll() is None:
            self.stderr.write(f"The model server at {url} is not ready after {START_TIMEOUT_SECONDS} s; still waiting.")
        return False
