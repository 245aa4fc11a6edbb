from __future__ import annotations

from django.urls import path

from coaching.reflection import api

urlpatterns = [
    path("dialogues/", api.DialogueListApi.as_view(), name="api-reflection-dialogue-list"),
    path("dialogues/<int:dialogue_id>/", api.DialogueDetailApi.as_view(), name="api-reflection-dialogue-detail"),
    path("bank/", api.BankQuestionListApi.as_view(), name="api-reflection-bank-list"),
    path("bank/<int:question_id>/", api.BankQuestionDetailApi.as_view(), name="api-reflection-bank-detail"),
    path("assignments/", api.AssignmentListApi.as_view(), name="api-reflection-assignment-list"),
    path(
        "assignments/<int:assignment_id>/answers/",
        api.AnswerListApi.as_view(),
        name="api-reflection-answer-list",
    ),
    path(
        "assignments/<int:assignment_id>/review/",
        api.AnswerReviewApi.as_view(),
        name="api-reflection-answer-review",
    ),
]
