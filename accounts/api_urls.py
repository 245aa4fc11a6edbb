from __future__ import annotations

from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/token/", api.TokenCreateApi.as_view(), name="api-token"),
    path("auth/logout/", api.TokenDeleteApi.as_view(), name="api-logout"),
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("courses/", api.CourseListApi.as_view(), name="api-course-list"),
    path("courses/<int:course_id>/", api.CourseDetailApi.as_view(), name="api-course-detail"),
    path("courses/<int:course_id>/students/", api.CourseStudentListApi.as_view(), name="api-course-students"),
    path(
        "courses/<int:course_id>/students/<str:username>/",
        api.CourseStudentDeleteApi.as_view(),
        name="api-course-student-delete",
    ),
]
