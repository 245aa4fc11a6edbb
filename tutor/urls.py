from __future__ import annotations

from django.urls import path

from tutor import views

app_name = "tutor"

urlpatterns = [
    path("", views.index, name="index"),
    path("problems/<int:problem_id>/start/", views.session_create, name="start"),
    path("problems/<int:problem_id>/assign/", views.problem_assign, name="assign"),
    path("courses/<int:course_id>/import/", views.problem_import, name="import"),
    path("courses/<int:course_id>/settings/", views.course_settings, name="settings"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/<int:session_id>/", views.session_detail, name="session"),
    path("sessions/<int:session_id>/messages/", views.message_send, name="message"),
    path("sessions/<int:session_id>/end/", views.session_end, name="end"),
    path("turns/<int:turn_id>/stream/", views.turn_stream, name="stream"),
    path("turns/<int:turn_id>/flag/", views.turn_flag_view, name="flag"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("attention/", views.attention, name="attention"),
    path("model/train/", views.model_train, name="model_train"),
    path("export/sessions.jsonl", views.export_sessions, name="export_sessions"),
    path("export/better-replies.jsonl", views.export_training, name="export_training"),
]
