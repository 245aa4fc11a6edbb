from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _require_admin(request: HttpRequest) -> None:
    # The role lives in accounts, which this bottom layer does not import: ask the user object.
    if not getattr(request.user, "is_admin", False):
        raise PermissionDenied("This page is for admins only.")


@login_required
def index(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    return render(request, "models_runtime/index.html", {})
