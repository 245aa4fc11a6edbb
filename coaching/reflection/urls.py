from __future__ import annotations

from django.urls import path

from coaching.reflection import views

app_name = "reflection"

urlpatterns = [
    path("", views.index, name="index"),
    path("dialogues/<int:dialogue_id>/", views.dialogue_detail, name="dialogue"),
    path("dialogues/<int:dialogue_id>/save/", views.dialogue_save, name="dialogue_save"),
    path("bank/", views.bank, name="bank"),
    path("bank/<int:question_id>/", views.bank_question, name="bank_question"),
    path("bank/<int:question_id>/edit/", views.bank_question_edit, name="bank_question_edit"),
    path("bank/<int:question_id>/assign/", views.bank_question_assign, name="bank_question_assign"),
    path("assigned/", views.assigned, name="assigned"),
    path("assigned/<int:assignment_id>/", views.assigned_answer, name="assigned_answer"),
    path("assignments/<int:assignment_id>/review/", views.assignment_review, name="assignment_review"),
]
