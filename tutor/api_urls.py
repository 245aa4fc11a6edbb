from __future__ import annotations

from django.urls import path

from tutor import api

urlpatterns = [
    path("problems/", api.ProblemListApi.as_view(), name="api-tutor-problems"),
    path("sessions/", api.SessionListApi.as_view(), name="api-tutor-sessions"),
    path("sessions/<int:session_id>/", api.SessionDetailApi.as_view(), name="api-tutor-session"),
    path("sessions/<int:session_id>/messages/", api.MessageCreateApi.as_view(), name="api-tutor-messages"),
    path("turns/<int:turn_id>/stream/", api.ReplyStreamApi.as_view(), name="api-tutor-turn-stream"),
    path("turns/<int:turn_id>/flag/", api.TurnFlagApi.as_view(), name="api-tutor-turn-flag"),
]
