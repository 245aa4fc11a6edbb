from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Role
from accounts.permissions import role_required
from grading.selectors import assignment_list_for_user


@role_required(Role.STUDENT, Role.TEACHER, Role.ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "grading/index.html", {"assignments": assignment_list_for_user(user=request.user)})
