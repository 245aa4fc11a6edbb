"""The one application error type. Services raise it; the API and htmx views turn it into a 4xx."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A problem the user can fix: bad input, a forbidden action, a missing object."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    status_code = 404
    code = "not_found"


class PermissionDeniedError(ApplicationError):
    status_code = 403
    code = "permission_denied"


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"


class FileImportError(ApplicationError):
    """An uploaded file cannot be imported. `problems` lists the first `max_reported` problems found
    (`problems_more` says how many more there are); `message` names the first.

    Imports are all or nothing, so the list helps the user fix the file in one go; a file of 60,000 bad
    rows still gets a page of a readable size.
    """

    code = "import_invalid"
    max_reported = 50

    def __init__(self, problems: list[str]):
        self.problem_count = len(problems)
        self.problems = problems[: self.max_reported]
        self.problems_more = max(0, len(problems) - self.max_reported)
        message = problems[0]
        if len(problems) > 1:
            more = len(problems) - 1
            message += f" (and {more:,} more problem{'s' if more > 1 else ''})"
        super().__init__(
            message,
            extra={"problems": self.problems, "problem_count": self.problem_count, "problems_more": self.problems_more},
        )
