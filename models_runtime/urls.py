from __future__ import annotations

from django.urls import path

from models_runtime import views

app_name = "models_runtime"

urlpatterns = [
    path("", views.index, name="index"),
    path("versions/<int:version_id>/activate/", views.activate, name="activate"),
    path("versions/<int:version_id>/retire/", views.retire, name="retire"),
]
