"""Reading JSON from uploads safely: a file nested thousands deep is refused with a message before
Python's parser would hit its recursion limit (a RecursionError, that is a 500)."""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64


class JsonTooDeepError(ValueError):
    def __init__(self, *, depth: int, line: int, limit: int):
        self.depth, self.line, self.limit = depth, line, limit
        super().__init__(
            f"Line {line}: the JSON is nested more than {limit} levels deep (lists or objects inside each other); "
            "no Tutorloop file needs that many. Check that the file is the one you meant to upload."
        )


def json_depth_check(text: str, *, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonTooDeepError when brackets outside strings nest deeper than `limit`."""
    depth = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise JsonTooDeepError(depth=depth, line=text.count("\n", 0, index) + 1, limit=limit)
        elif char in "]}":
            depth -= 1


def json_loads_bounded(text: str, *, limit: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` for uploaded text: JsonTooDeepError (a ValueError) instead of a RecursionError."""
    json_depth_check(text, limit=limit)
    return json.loads(text)
