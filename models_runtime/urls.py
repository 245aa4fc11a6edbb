from __future__ import annotations

from django.urls import path

from models_runtime import views

app_name = "models_runtime"

urlpatterns = [
    path("", views.index, name="index"),
]
