"""Issue 16, item 2: repeated wrong passwords lock the (username, address) pair out on every sign-in
door, with a 429 and a message that says what to do; API tokens expire and end at logout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD
from tests.conftest import School, client_for

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT


def _login_page(client: Client, username: str, password: str):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def _admin_login(client: Client, username: str, password: str):
    return client.post(reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"})


def _token(client: APIClient, username: str, password: str):
    return client.post(reverse("api-token"), {"username": username, "password": password}, format="json")


def test_the_login_page_locks_out_after_the_limit_with_a_clear_message(school: School) -> None:
    client = Client()
    statuses = [_login_page(client, school.student.username, "wrong-password").status_code for _ in range(30)]

    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its error
    assert set(statuses[LIMIT - 1 :]) == {429}
    locked = _login_page(client, school.student.username, PASSWORD)  # even the right password now
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not locked (a school shares one address).
    assert _login_page(client, school.teacher.username, PASSWORD).status_code == 302


def test_the_token_endpoint_locks_out_with_429_in_the_api_error_shape(school: School) -> None:
    client = APIClient()
    first = _token(client, school.student.username, "wrong-password")
    assert first.status_code == 400
    assert first.json()["error"] == {"code": "authentication_failed", "message": "Wrong username or password."}
    statuses = [_token(client, school.student.username, "wrong-password").status_code for _ in range(29)]
    assert set(statuses[LIMIT - 1 :]) == {429}

    locked = _token(client, school.student.username, PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert "Too many failed sign-ins" in locked.json()["error"]["message"]
    assert not Token.objects.filter(user=school.student).exists()


def test_the_admin_login_locks_out(school: School) -> None:
    client = Client()
    statuses = [_admin_login(client, school.admin.username, "wrong-password").status_code for _ in range(30)]
    assert set(statuses[LIMIT - 1 :]) == {429}
    assert _admin_login(client, school.admin.username, PASSWORD).status_code == 429


def test_failures_on_one_door_count_on_the_others(school: School) -> None:
    for _ in range(LIMIT):
        _login_page(Client(), school.teacher.username, "wrong-password")
    assert _token(APIClient(), school.teacher.username, PASSWORD).status_code == 429


def test_a_success_before_the_limit_resets_the_count(school: School) -> None:
    client = Client()
    for _ in range(LIMIT - 1):
        _login_page(client, school.student.username, "wrong-password")
    assert _login_page(client, school.student.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert _login_page(client, school.student.username, "wrong-password").status_code == 200


def test_a_token_expires(school: School) -> None:
    token = _token(APIClient(), school.student.username, PASSWORD).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert client.get(reverse("api-me")).status_code == 200

    Token.objects.filter(key=token["token"]).update(
        created=timezone.now() - timedelta(seconds=settings.API_TOKEN_TTL_SECONDS + 1)
    )
    expired = client.get(reverse("api-me"))
    assert expired.status_code in (401, 403)  # 403: session authentication comes first (DRF's rule)
    assert expired.json()["error"]["message"] == "This token has expired. Ask for a new one at /api/auth/token/."
    assert not Token.objects.filter(key=token["token"]).exists()
    # Asking again gives a new, working token.
    fresh = _token(APIClient(), school.student.username, PASSWORD).json()["token"]
    assert fresh != token["token"]


def test_the_token_endpoint_says_when_it_expires(school: School) -> None:
    body = _token(APIClient(), school.student.username, PASSWORD).json()
    token = Token.objects.get(key=body["token"])
    assert body["expires_at"] == (
        token.created + timedelta(seconds=settings.API_TOKEN_TTL_SECONDS)
    ).isoformat().replace("+00:00", "Z")


def test_api_logout_deletes_the_token(school: School) -> None:
    key = _token(APIClient(), school.student.username, PASSWORD).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post(reverse("api-logout")).status_code == 204
    assert client.get(reverse("api-me")).status_code in (401, 403)
    assert not Token.objects.filter(user=school.student).exists()


def test_logging_out_of_the_site_deletes_the_api_token(school: School) -> None:
    key = _token(APIClient(), school.student.username, PASSWORD).json()["token"]
    web = client_for(school.student)
    assert web.post(reverse("accounts:logout")).status_code == 302
    assert not Token.objects.filter(key=key).exists()
