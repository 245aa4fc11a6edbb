from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema; a browser (which asks for HTML) reads the YAML on the page instead of downloading it."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if "text/html" in request.headers.get("Accept", "") and "format" not in request.query_params:
            response.content_type = "text/plain; charset=utf-8"  # DRF writes it when it renders
            response["Content-Disposition"] = "inline"
        return response


api_patterns = [
    path("", include("accounts.api_urls")),
    path("", include("core.api_urls")),
    path("tutor/", include("tutor.api_urls")),
    path("grading/", include("grading.api_urls")),
    path("coaching/questions/", include("coaching.reflection.api_urls")),
    path("coaching/", include("coaching.api_urls")),
    path("datasets/", include("datasets_admin.api_urls")),
    path("models/", include("models_runtime.api_urls")),
]

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("core.urls")),
    path("tutor/", include("tutor.urls")),
    path("grading/", include("grading.urls")),
    path("coaching/questions/", include("coaching.reflection.urls")),
    path("coaching/", include("coaching.urls")),
    path("datasets/", include("datasets_admin.urls")),
    path("distillation/", include("distillation.urls")),
    path("models/", include("models_runtime.urls")),
    path("privacy/", include("privacy.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the CSP needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include(api_patterns)),
]

handler400 = "core.error_views.bad_request"
handler403 = "core.error_views.permission_denied"
handler404 = "core.error_views.page_not_found"
handler500 = "core.error_views.server_error"
