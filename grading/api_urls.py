from __future__ import annotations

from django.urls import path

from grading import api

urlpatterns = [
    path("assignments/", api.AssignmentListApi.as_view(), name="api-grading-assignment-list"),
    path("assignments/<int:assignment_id>/", api.AssignmentDetailApi.as_view(), name="api-grading-assignment-detail"),
    path(
        "assignments/<int:assignment_id>/grade/",
        api.AssignmentGradeApi.as_view(),
        name="api-grading-assignment-grade",
    ),
    path(
        "assignments/<int:assignment_id>/release/",
        api.AssignmentReleaseApi.as_view(),
        name="api-grading-assignment-release",
    ),
    path(
        "assignments/<int:assignment_id>/grades/",
        api.AssignmentGradeListApi.as_view(),
        name="api-grading-assignment-grades",
    ),
    path("grades/<int:grade_id>/accept/", api.GradeAcceptApi.as_view(), name="api-grading-grade-accept"),
    path("grades/<int:grade_id>/override/", api.GradeOverrideApi.as_view(), name="api-grading-grade-override"),
    path("grades/released/", api.GradeReleasedListApi.as_view(), name="api-grading-grades-released"),
    path("submissions/", api.SubmissionListApi.as_view(), name="api-grading-submission-list"),
    path("submissions/create/", api.SubmissionCreateApi.as_view(), name="api-grading-submission-create"),
]
