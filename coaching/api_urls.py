from __future__ import annotations

from django.urls import path

from coaching import api

urlpatterns = [
    path("transcripts/", api.TranscriptListApi.as_view(), name="api-coaching-transcript-list"),
    path("transcripts/<int:transcript_id>/", api.TranscriptDetailApi.as_view(), name="api-coaching-transcript-detail"),
    path(
        "transcripts/<int:transcript_id>/speakers/",
        api.TranscriptSpeakersApi.as_view(),
        name="api-coaching-transcript-speakers",
    ),
    path(
        "transcripts/<int:transcript_id>/report/",
        api.TranscriptReportApi.as_view(),
        name="api-coaching-transcript-report",
    ),
    path("trends/", api.TeacherTrendsApi.as_view(), name="api-coaching-trends"),
]
