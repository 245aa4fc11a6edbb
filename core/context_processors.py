from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.navigation import nav_links_for_role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"nav_links": []}
    role = getattr(user, "effective_role", "")
    return {"nav_links": nav_links_for_role(role=role, current_path=request.path), "user_role": role}
