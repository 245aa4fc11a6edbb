from __future__ import annotations

from django.urls import path

from core import api_views

urlpatterns = [
    path("jobs/<uuid:job_id>/", api_views.JobDetailApi.as_view(), name="api-job-detail"),
    path("jobs/<uuid:job_id>/cancel/", api_views.JobCancelApi.as_view(), name="api-job-cancel"),
    path("system/check/", api_views.SystemCheckCreateApi.as_view(), name="api-system-check"),
]
