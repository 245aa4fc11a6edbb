"""Error pages: HTML for people, the API's JSON error shape for /api/ paths. No stack traces."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404

from core.api import error_body

DEFAULT_MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("permission_denied", "You do not have permission to open this page."),
    404: ("not_found", "There is nothing at this address, or it is not yours to see."),
    500: ("server_error", "Something went wrong on our side. The error was logged; please try again."),
}


def _respond(request: HttpRequest, status: int, exception: Any = None) -> HttpResponse:
    code, message = DEFAULT_MESSAGES[status]
    detail = str(exception) if exception is not None and status in (403, 404) else ""
    # The resolver's own 404 describes the URLconf, which is no business of the user's.
    if isinstance(exception, Resolver404):
        detail = ""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, detail or message), status=status)
    return render(request, "error.html", {"status": status, "message": detail or message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _respond(request, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _respond(request, 403, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _respond(request, 404, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _respond(request, 500)
