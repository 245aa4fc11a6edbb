from __future__ import annotations

from django.urls import path

from coaching import views

app_name = "coaching"

urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.transcript_upload_view, name="transcript_upload"),
    path("trends/", views.trends, name="trends"),
    path("transcripts/<int:transcript_id>/", views.transcript_detail, name="transcript_detail"),
    path("transcripts/<int:transcript_id>/speakers/", views.transcript_speakers, name="transcript_speakers"),
    path("transcripts/<int:transcript_id>/print/", views.transcript_print, name="transcript_print"),
    path("transcripts/<int:transcript_id>/delete/", views.transcript_delete_view, name="transcript_delete"),
]
