from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.middleware import HtmxDetails

from core.errors import ApplicationError


class HtmxHttpRequest(HttpRequest):
    """The request type of views that answer htmx: django-htmx's middleware sets `htmx`."""

    htmx: HtmxDetails


def job_start_redirect(request: HttpRequest, *, failure_url: str, **job: Any) -> HttpResponse:
    """Start a background job from a form post and show its progress page; a refusal (one already
    running, say) goes back to `failure_url` with the message. `job`: `core.services.job_create`'s."""
    from core.services import job_create

    try:
        started = job_create(created_by=request.user, **job)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(failure_url)
    return redirect("core:job_detail", job_id=started.pk)
