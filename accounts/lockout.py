"""The login lockout (django-axes): refused sign-ins get a 429 that says what to do.

See docs/decisions/0006-login-lockout-and-token-expiry.md for the choices.
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.api import error_body


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses a sign-in while its (username, address) pair is locked out; signs nobody in itself.

    Every sign-in over HTTP passes its request. Code that authenticates without one (the test
    client's `login`, a shell) is not an attacker at a login form, so it is not counted or refused.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    return (
        f"Too many failed sign-ins for this account from your address. Wait {lockout_minutes()} minutes and "
        "try again, or ask an administrator to unlock the account."
    )


def lockout_response(
    request: HttpRequest, original_response: object = None, credentials: object = None
) -> HttpResponse:
    """What a locked-out sign-in gets: 429 with the API's error shape under /api/, else the error page."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body("too_many_attempts", lockout_message()), status=429)
    else:
        response = render(request, "error.html", {"status": 429, "message": lockout_message()}, status=429)
    response["Retry-After"] = retry_after
    return response
