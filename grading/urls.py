from __future__ import annotations

from django.urls import path

from grading import views

app_name = "grading"

urlpatterns = [
    path("", views.index, name="index"),
]
