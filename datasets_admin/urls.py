from __future__ import annotations

from django.urls import path

from datasets_admin import views

app_name = "datasets_admin"

urlpatterns = [
    path("", views.index, name="index"),
]
