from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Role
from accounts.permissions import role_required
from accounts.selectors import course_list_for_user


@role_required(Role.ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "datasets_admin/index.html", {"courses": course_list_for_user(user=request.user)})
