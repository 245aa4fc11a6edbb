from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import Job
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db


def test_only_admins_start_a_system_check(school: School) -> None:
    response = client_for(school.teacher).post(reverse("core:system_check"))
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_job_of_someone_else_is_not_found(school: School) -> None:
    job = Job.objects.create(kind="test", title="Private", created_by=school.admin)
    response = client_for(school.teacher).get(reverse("core:job_detail", args=[job.pk]))
    assert response.status_code == 404


def test_job_page_polls_while_running(school: School) -> None:
    job = Job.objects.create(
        kind="test", title="Running", created_by=school.teacher, status="running", total=4, progress=1
    )
    client = client_for(school.teacher)
    page = client.get(reverse("core:job_detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    partial = client.get(reverse("core:job_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert "1 of 4" in partial.content.decode()


def test_job_api_and_cancel(school: School) -> None:
    from rest_framework.test import APIClient

    job = Job.objects.create(kind="test", title="Queued", created_by=school.teacher)
    api = APIClient()
    api.force_authenticate(school.teacher)
    assert api.get(reverse("api-job-detail", args=[job.pk])).json()["status"] == "queued"
    body = api.post(reverse("api-job-cancel", args=[job.pk])).json()
    assert body["status"] == "cancelled"
    again = api.post(reverse("api-job-cancel", args=[job.pk]))
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "This job has already finished."


def test_health_answers_without_login(db: None) -> None:
    from django.test import Client

    assert Client().get(reverse("core:health")).json() == {"status": "ok"}


def test_pages_send_a_content_security_policy(school: School) -> None:
    response = client_for(school.student).get(reverse("accounts:dashboard"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
