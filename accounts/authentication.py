"""Expiring API tokens. DRF imports this module while it loads, so it imports no DRF views.

See docs/decisions/0006-login-lockout-and-token-expiry.md for the choices.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


def token_expires_at(token: Token) -> Any:
    return token.created + timedelta(seconds=settings.API_TOKEN_TTL_SECONDS)


def token_is_expired(token: Token) -> bool:
    return timezone.now() >= token_expires_at(token)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, with tokens that stop working `API_TOKEN_TTL_SECONDS` after issue."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            token.delete()
            raise exceptions.AuthenticationFailed("This token has expired. Ask for a new one at /api/auth/token/.")
        return user, token
