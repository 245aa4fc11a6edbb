from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils import timezone

from accounts.models import Role
from accounts.permissions import TEACHING_ROLES, course_is_taught_by, role_required, user_role
from accounts.selectors import (
    course_get_for_user,
    course_list_for_user,
    course_student_list,
    user_counts_by_role,
)
from accounts.services import token_delete_for_user
from core.errors import NotFoundError
from core.models import Job
from core.selectors import job_list_for_user, worker_status


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Logging out of the site also ends the user's API token."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            token_delete_for_user(user=request.user)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change_done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


DASHBOARD_TEMPLATES = {
    Role.STUDENT: "accounts/dashboard_student.html",
    Role.TEACHER: "accounts/dashboard_teacher.html",
    Role.ADMIN: "accounts/dashboard_admin.html",
}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    role = user_role(request.user)
    if role not in DASHBOARD_TEMPLATES:
        raise PermissionDenied("Your account has no role yet. Ask an administrator to give you one.")
    context: dict[str, object] = {"courses": course_list_for_user(user=request.user)}
    if role == Role.ADMIN:
        context["user_counts"] = user_counts_by_role()
        context["recent_jobs"] = job_list_for_user(user=request.user)[:5]
        context["failed_jobs"] = job_list_for_user(user=request.user).filter(
            status=Job.Status.FAILED, finished_at__gte=timezone.now() - timedelta(days=7)
        )[:5]
        context["worker_status"] = worker_status()
    return render(request, DASHBOARD_TEMPLATES[Role(role)], context)


@role_required(Role.STUDENT, Role.TEACHER, Role.ADMIN)
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    try:
        course = course_get_for_user(user=request.user, course_id=course_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    is_teaching = user_role(request.user) in TEACHING_ROLES and course_is_taught_by(course=course, user=request.user)
    students = course_student_list(course=course) if is_teaching else None
    return render(
        request,
        "accounts/course_detail.html",
        {"course": course, "students": students, "is_teaching": is_teaching},
    )
