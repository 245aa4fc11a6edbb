from __future__ import annotations

import pytest

from accounts.models import User
from accounts.services import user_create
from core.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_creating_a_user_without_a_role_names_the_choices() -> None:
    with pytest.raises(ApplicationError, match=r"Choose a role for the account: student, teacher or admin\."):
        user_create(username="norole", password="x-long-password-1", role="")
    assert not User.objects.filter(username="norole").exists()


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ApplicationError, match="Unknown role “wizard”"):
        user_create(username="wiz", password="x-long-password-1", role="wizard")


def test_admin_role_gets_django_admin_access() -> None:
    user = user_create(username="boss", password="x-long-password-1", role="admin")
    assert user.is_staff is True
    assert user.is_admin is True


def test_createsuperuser_makes_an_admin() -> None:
    user = User.objects.create_superuser("root", "root@example.org", "x-long-password-1")
    assert user.role == "admin"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("1", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("83749201835", "This password is entirely numeric."),
    ],
)
def test_user_create_runs_the_password_validators(password: str, message: str) -> None:
    with pytest.raises(ApplicationError) as raised:
        user_create(username="weak", password=password, role="student")
    assert message in raised.value.message
    assert raised.value.code == "password_invalid"
    assert message in raised.value.extra["fields"]["password"]
    assert not User.objects.filter(username="weak").exists()
