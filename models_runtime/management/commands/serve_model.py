"""Serve a model over the OpenAI chat completions API: `python manage.py serve_model [--model NAME_OR_PATH]`.

Point another Tutorloop (or any OpenAI client) at http://HOST:PORT/v1.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from models_runtime.conversion import DEFAULT_STUDENT_NAME
from models_runtime.errors import ModelError
from models_runtime.types import ChatRequest

# Concurrent HTTP requests reach the engine spread over tens of milliseconds (parsing, tokenising, a busy
# CPU). The engine has no continuous batching: a request that misses a batch waits for all of it to
# finish. So the server waits a little longer than the in-process default for a batch to fill.
SERVER_BATCH_WAIT_SECONDS = 0.05


class Command(BaseCommand):
    help = "Serve a model (registry version name or Hugging Face directory) over an OpenAI-compatible HTTP API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model",
            default=DEFAULT_STUDENT_NAME,
            help=f"A registry version name or a Hugging Face model directory (default: {DEFAULT_STUDENT_NAME}).",
        )
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8001, help="Port to listen on (default: 8001).")
        parser.add_argument(
            "--served-model-name",
            default=None,
            help="The model name clients send (default: the --model value, or the directory's name for a path).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="CPU threads for torch (default: torch's choice). On a CPU shared with other work, 1 is often "
            "much faster than oversubscribing the cores.",
        )
        parser.add_argument(
            "--max-tokens",
            type=int,
            default=256,
            help="New tokens for a request that sets no max_tokens (default: 256).",
        )
        parser.add_argument(
            "--batch-wait",
            type=float,
            default=SERVER_BATCH_WAIT_SECONDS,
            help="Seconds the engine waits after a request for others to join its batch "
            f"(default: {SERVER_BATCH_WAIT_SECONDS}).",
        )
        parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        from models_runtime.backends.local import engine_for
        from models_runtime.registry import model_dir_for
        from models_runtime.server import create_app

        name_or_path: str = options["model"]
        if options["threads"] is not None:
            if options["threads"] < 1:
                raise CommandError("--threads must be at least 1.")
            import torch

            torch.set_num_threads(options["threads"])
        sock = self._listen(options["host"], options["port"])
        try:
            try:
                model_dir = model_dir_for(name_or_path)
            except DatabaseError as error:
                raise CommandError(
                    f"Could not look up the model version “{name_or_path}” in the database ({error}). "
                    "Run `python manage.py migrate`, or pass a model directory path."
                ) from None
            # For a directory path, clients send the directory's name rather than a filesystem path.
            served_name = options["served_model_name"] or (
                model_dir.name if Path(name_or_path).is_dir() else name_or_path
            )
            engine = engine_for(model_dir, name=served_name)
            engine.batch_wait = max(0.0, options["batch_wait"])
            self._warm_up(engine)
        except ModelError as error:
            sock.close()
            raise CommandError(error.message) from None
        except BaseException:
            sock.close()
            raise

        app = create_app(engine, served_model_name=served_name, default_max_tokens=options["max_tokens"])
        host, port = sock.getsockname()[:2]
        self.stdout.write(f"Serving {served_name} from {model_dir} at http://{host}:{port}/v1 (Ctrl-C to stop)")
        config = uvicorn.Config(
            app,
            log_level=options["log_level"],
            access_log=options["log_level"] == "debug",
            timeout_graceful_shutdown=5,
        )
        uvicorn.Server(config).run(sockets=[sock])

    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        """Bind the port before loading the model, so a busy port is a clear error and not a late surprise.

        Not listening yet: until the model is loaded, clients are refused (and retry) rather than left
        hanging; uvicorn listens when it starts serving.
        """
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as error:
            raise CommandError(f"Cannot listen on {host}: {error.strerror}.") from None
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            sock.close()
            raise CommandError(f"Cannot listen on {host}:{port}: {error.strerror or error}.") from None
        sock.set_inheritable(True)
        return sock

    @staticmethod
    def _warm_up(engine: Any) -> None:
        """One tiny generation, so the first client does not pay for first-call setup in time-to-first-token."""
        engine.complete(ChatRequest(messages=[{"role": "user", "content": "Hi"}], max_new_tokens=2))
