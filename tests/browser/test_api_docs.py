"""Issue 16, item 5: /api/docs/ works offline under the product's own CSP: Swagger UI comes from the
drf-spectacular-sidecar package, served by this server, and no request leaves it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_load_from_this_server_under_its_csp(page, live_server) -> None:
    origin = urlsplit(live_server.url).netloc
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    response = page.goto("/api/docs/")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "Tutorloop API" in page.inner_text(".swagger-ui .info .title")
    # The operations came from /api/schema/: one of them is on the page.
    page.wait_for_selector("text=/api/auth/token/")

    foreign = [url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != origin]
    assert foreign == []
    assert [error for error in page.console_errors if "Content Security Policy" in error] == []
    assert page.console_errors == []


def test_the_docs_page_names_no_cdn(db: None) -> None:
    html = Client().get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
