from __future__ import annotations

from django.urls import path

from grading import views

app_name = "grading"

urlpatterns = [
    path("", views.index, name="index"),
    path("attention/", views.attention, name="attention"),
    path("questions/<int:question_id>/answer/", views.answer_submit, name="answer_submit"),
    path("assignments/<int:assignment_id>/", views.assignment_detail, name="assignment_detail"),
    path("assignments/<int:assignment_id>/grader/", views.assignment_grader_state, name="grader_state"),
    path("assignments/<int:assignment_id>/grader/first/", views.grader_first, name="grader_first"),
    path("assignments/<int:assignment_id>/grade/", views.assignment_grade, name="assignment_grade"),
    path("assignments/<int:assignment_id>/release/", views.assignment_release_view, name="assignment_release"),
    path("assignments/<int:assignment_id>/grades.csv", views.assignment_export, name="assignment_export"),
    path("assignments/<int:assignment_id>/import/", views.assignment_import, name="assignment_import"),
    path("assignments/<int:assignment_id>/questions/new/", views.question_add, name="question_add"),
    path("questions/<int:question_id>/edit/", views.question_edit, name="question_edit"),
    path("assignments/<int:assignment_id>/review/", views.review, name="review"),
    path("assignments/<int:assignment_id>/review/groups/accept/", views.group_accept, name="group_accept"),
    path("assignments/<int:assignment_id>/review/groups/relabel/", views.group_relabel, name="group_relabel"),
    path("grades/<int:grade_id>/accept/", views.grade_accept_view, name="grade_accept"),
    path("grades/<int:grade_id>/override/", views.grade_override_view, name="grade_override"),
    path("grades/<int:grade_id>/feedback/", views.grade_feedback_view, name="grade_feedback"),
    path("grades/<int:grade_id>/rubric/", views.grade_rubric_view, name="grade_rubric"),
    path("grader/retrain/", views.grader_retrain, name="grader_retrain"),
]
