from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.permissions import role_required
from core.errors import ApplicationError
from core.http import HtmxHttpRequest, job_start_redirect
from core.models import Job
from core.selectors import job_list_for_user, worker_status
from core.services import job_cancel
from core.tasks import system_check_task
from tutor.selectors import notices_for_student

ALL_ROLES = (Role.STUDENT, Role.TEACHER, Role.ADMIN)


def _job_or_404(request: HttpRequest, job_id: str) -> Job:
    try:
        return job_list_for_user(user=request.user).get(pk=job_id)
    except (Job.DoesNotExist, ValueError) as error:
        raise Http404("No such job, or it is not one of yours.") from error


@role_required(*ALL_ROLES)
def job_detail(request: HtmxHttpRequest, job_id: str) -> HttpResponse:
    """The full page, or (for htmx polling) just the progress partial."""
    job = _job_or_404(request, job_id)
    template = "core/job_detail.html#job-status" if request.htmx else "core/job_detail.html"
    response = render(request, template, {"job": job})
    if request.htmx and job.is_finished:
        # Stop the poll: htmx stops polling when it receives 286.
        response.status_code = 286
    return response


@role_required(*ALL_ROLES)
@require_POST
def job_cancel_view(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job_or_404(request, job_id)
    try:
        job_cancel(job=job)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("core:job_detail", job_id=job.pk)


@role_required(Role.ADMIN)
def system_status(request: HttpRequest) -> HttpResponse:
    broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
    return render(
        request,
        "core/system.html",
        {
            "database_vendor": connection.vendor,
            "broker_transport": broker,
            "debug": settings.DEBUG,
            "jobs": job_list_for_user(user=request.user)[:20],
            "worker_status": worker_status(),
        },
    )


@role_required(Role.ADMIN)
@require_POST
def system_check_start(request: HttpRequest) -> HttpResponse:
    return job_start_redirect(
        request,
        failure_url=reverse("core:system"),
        kind="system.check",
        title="Worker check",
        task=system_check_task,
        unique_key="system.check",
    )


@role_required(Role.STUDENT)
def student_tutor_notices(request: HttpRequest) -> HttpResponse:
    """The student dashboard's tutor fragment: assigned problems the student has not opened yet."""
    return render(request, "core/tutor_notices.html", {"items": notices_for_student(student=request.user)})


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: answers without a session and checks the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
