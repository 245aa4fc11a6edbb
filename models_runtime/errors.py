"""Errors of the model layer. Each names the problem in words a teacher or admin can act on.

Callers in other apps catch `ModelError` and show its message; they never show a traceback.
"""

from __future__ import annotations


class ModelError(Exception):
    code = "model_error"
    status_code = 503

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ModelNotFoundError(ModelError):
    code = "model_not_found"
    status_code = 404


class ModelFilesError(ModelError):
    """Model files are missing or corrupt."""

    code = "model_files"


class PromptTooLongError(ModelError):
    code = "prompt_too_long"
    status_code = 400


class ModelServerError(ModelError):
    """An OpenAI-compatible server is down, too slow, or answered something that is not the API."""

    code = "model_server"


class ModelServerTimeoutError(ModelServerError):
    """The server took the request but had not answered it in time (it is not sent again)."""

    code = "model_server_timeout"


class StructuredOutputError(ModelError):
    """The model could not produce JSON matching the schema within the allowed attempts."""

    code = "structured_output"
    status_code = 422
