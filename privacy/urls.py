from __future__ import annotations

from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("", views.index, name="index"),
    path("students/<int:student_id>/export.json", views.student_export, name="student_export"),
    path("students/<int:student_id>/delete/", views.student_delete, name="student_delete"),
    path("audit/", views.audit, name="audit"),
]
