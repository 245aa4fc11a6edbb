from __future__ import annotations

from django.urls import path

from core import views

app_name = "core"

urlpatterns = [
    path("jobs/<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel_view, name="job_cancel"),
    path("system/", views.system_status, name="system"),
    path("system/check/", views.system_check_start, name="system_check"),
    path("health/", views.health, name="health"),
    path("notices/tutor/", views.student_tutor_notices, name="tutor_notices"),
]
