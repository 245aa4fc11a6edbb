from __future__ import annotations

from django.urls import path

from datasets_admin import api

urlpatterns = [
    path("", api.DatasetListApi.as_view(), name="dataset-list"),
    path("courses/", api.CourseListApi.as_view(), name="dataset-course-list"),
    path("uploads/", api.UploadCreateApi.as_view(), name="dataset-upload"),
    path(
        "comments/<int:comment_id>/labels/<str:category>/", api.CommentLabelApi.as_view(), name="dataset-comment-label"
    ),
    path("<slug:slug>/", api.DatasetDetailApi.as_view(), name="dataset-detail"),
    path("<slug:slug>/versions/<int:number>/rows/", api.DatasetRowsApi.as_view(), name="dataset-rows"),
]
