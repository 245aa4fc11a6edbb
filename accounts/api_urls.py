from __future__ import annotations

from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from accounts import api

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
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
