"""Issue 16: the authorization matrix. Every page and endpoint of the URL conf, and every operation of
the OpenAPI schema, against six identities (anonymous, the course's student, another course's student,
the course's teacher, another course's teacher, an admin). Refused writes must change nothing.

The rows (who is allowed) live in tests/security/authz_rows.py, one per URL name.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import School
from tests.security.authz_rows import IDENTITIES, ROWS, Row
from tests.security.authz_world import world_build

pytestmark = pytest.mark.django_db

# The Django admin checks staff itself on every one of its pages; its index stands for the namespace.
ADMIN_NAMESPACE_ROWS = {"admin:index"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SNAPSHOT_APPS = {"accounts", "core", "grading", "tutor", "coaching", "datasets_admin", "models_runtime", "authtoken"}
NOT_STATE = {"core.workerheartbeat"}  # written by workers, not by requests
_ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>")


def url_patterns() -> dict[str, str]:
    """Every named URL of the URL conf: name (with its namespace) -> route."""
    found: dict[str, str] = {}

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                if name.startswith("admin:") and name not in ADMIN_NAMESPACE_ROWS:
                    continue
                found.setdefault(name, prefix + str(pattern.pattern))

    walk(get_resolver(), "/", "")
    return found


def schema_operations() -> dict[tuple[str, str], str]:
    """(METHOD, OpenAPI path) -> the URL name serving it."""
    by_path = {_ARGUMENT.sub(r"{\1}", route): name for name, route in url_patterns().items()}
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations: dict[tuple[str, str], str] = {}
    for path, item in schema["paths"].items():
        for method in item:
            operations[(method.upper(), path)] = by_path.get(path, "")
    return operations


def db_state() -> dict[str, list[dict[str, Any]]]:
    return {
        model._meta.label_lower: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.app_label in SNAPSHOT_APPS and model._meta.label_lower not in NOT_STATE
    }


def _is_refused(identity: str, response: HttpResponse) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    # A redirect to a login page (the site's, or the Django admin's for non-staff).
    return response.status_code == 302 and "/login/" in response.get("Location", "")


def _request(client: Client, method: str, url: str, row: Row) -> HttpResponse:
    send = getattr(client, method.lower())
    if method in WRITE_METHODS:
        return send(url, row.data, content_type="application/json") if url.startswith("/api/") else send(url, row.data)
    return send(url)


# --- Completeness: the matrix covers the URL conf and the schema ---------------------------------


def test_every_url_has_a_row_in_the_matrix() -> None:
    routes = url_patterns()
    missing = sorted(set(routes) - set(ROWS))
    assert not missing, "These URLs have no row in tests/security/authz_rows.py (say who may use them):\n" + "\n".join(
        f'    "{name}": Row(...),  # {routes[name]}' for name in missing
    )


def test_every_row_names_a_url_that_exists() -> None:
    stale = sorted(set(ROWS) - set(url_patterns()))
    assert not stale, f"Rows in tests/security/authz_rows.py for URLs that no longer exist: {stale}"


def test_every_schema_operation_is_covered_by_its_urls_row() -> None:
    problems = []
    for (method, path), name in sorted(schema_operations().items()):
        if not name:
            problems.append(f"{method} {path}: no URL name serves this path")
        elif name not in ROWS:
            problems.append(f"{method} {path}: URL “{name}” has no row in tests/security/authz_rows.py")
        elif method not in ROWS[name].methods:
            problems.append(f"{method} {path}: the row of “{name}” does not list {method} in its methods")
    assert not problems, "The OpenAPI schema has operations the matrix does not check:\n" + "\n".join(problems)


# --- The matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROWS))
def test_authorization(name: str, school: School) -> None:
    row = ROWS[name]
    world = world_build(school)
    route = url_patterns().get(name)
    if route is None:
        pytest.fail(f"“{name}” has a row but no URL (see test_every_row_names_a_url_that_exists)")
    arguments = _ARGUMENT.findall(route)
    url = reverse(name, kwargs=row.kwargs(world) if row.kwargs else world.url_kwargs(arguments))

    failures: list[str] = []
    for method in row.methods:
        for identity in IDENTITIES:
            is_allowed = identity in row.allowed
            if is_allowed and not row.exercise_allowed:
                continue
            client = world.client(identity)  # signing in writes last_login: before the snapshot
            before = db_state() if method in WRITE_METHODS and not is_allowed else None
            response = _request(client, method, url, row)
            status = response.status_code
            where = f"{method} {url} as {identity}"
            if status >= 500:
                failures.append(f"{where}: server error {status}")
            elif is_allowed:
                if _is_refused(identity, response) and not (row.placeholder and status == 404):
                    failures.append(f"{where}: refused ({status}) but the row allows {identity}")
            elif not _is_refused(identity, response):
                failures.append(f"{where}: answered {status}; {identity} must be refused (403/404, or login)")
            if before is not None:
                after = db_state()
                changed = sorted(label for label in before if before[label] != after[label])
                if changed:
                    failures.append(f"{where}: refused write changed {changed}")
    assert not failures, f"Authorization of “{name}” ({route}):\n" + "\n".join(failures)
