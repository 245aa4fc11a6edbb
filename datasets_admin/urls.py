from __future__ import annotations

from django.urls import path

from datasets_admin import views

app_name = "datasets_admin"

urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("uploads/<uuid:job_id>/", views.upload_detail, name="upload_detail"),
    path("courses/<slug:code>/", views.course_detail, name="course_detail"),
    path("lectures/<int:lecture_id>/", views.lecture_detail, name="lecture_detail"),
    path("comments/<int:comment_id>/labels/<str:category>/", views.comment_label, name="comment_label"),
    path("classifier/", views.classifier, name="classifier"),
    path("classifier/retrain/", views.classifier_retrain, name="classifier_retrain"),
    path("registry/sync/", views.dataset_sync, name="dataset_sync"),
    path("registry/<slug:slug>/", views.dataset_detail, name="dataset_detail"),
    path("registry/<slug:slug>/v<int:number>.<str:fmt>", views.dataset_export, name="dataset_export"),
]
