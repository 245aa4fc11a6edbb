"""Coaching API: upload a transcript, confirm its speakers (starts the analysis), its state, its report, trends.

One view per operation with its own serializers; every queryset is filtered by who asks (coaching.selectors):
another teacher's transcript is a 404; students get 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsTeacherOrAdmin
from coaching.models import CoachingReport, Transcript, Utterance
from coaching.parsing import MAX_BYTES
from coaching.selectors import (
    dimensions_documented,
    report_for,
    teacher_trends,
    transcript_get_for_user,
    transcript_list_for_user,
    transcript_utterances,
)
from coaching.services import transcript_speakers_confirm, transcript_upload
from core.api import StandardPagination, paginated_response
from core.api_views import JobOutputSerializer
from core.errors import ConflictError

# --- Serializers ---------------------------------------------------------------------------------


class SpeakerSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField()
    turns = serializers.IntegerField()
    words = serializers.IntegerField()
    guessed_role = serializers.ChoiceField(choices=["teacher", "student"])


class TranscriptOutputSerializer(serializers.ModelSerializer[Transcript]):
    speakers = SpeakerSerializer(many=True, read_only=True)
    job = JobOutputSerializer(read_only=True, allow_null=True)
    teacher = serializers.CharField(source="teacher.username", read_only=True)
    utterance_count = serializers.SerializerMethodField()

    class Meta:
        model = Transcript
        fields = (
            "id",
            "title",
            "lesson_date",
            "filename",
            "source_format",
            "status",
            "teacher",
            "speakers",
            "teacher_speakers",
            "has_times",
            "utterance_count",
            "job",
            "error",
            "created_at",
        )

    @extend_schema_field(serializers.IntegerField())
    def get_utterance_count(self, transcript: Transcript) -> int:
        annotated = getattr(transcript, "utterance_count", None)  # the list's annotation saves a query per row
        return int(annotated) if annotated is not None else transcript.utterances.count()


class TranscriptUploadInputSerializer(serializers.Serializer[dict[str, Any]]):
    file = serializers.FileField(help_text="CSV, text (Speaker: text), WebVTT, SRT or JSON; UTF-8; up to 5 MB")
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    lesson_date = serializers.DateField(required=False, allow_null=True)

    def validate_file(self, upload: Any) -> Any:
        if upload.size > MAX_BYTES:
            raise serializers.ValidationError(f"The file is larger than {MAX_BYTES // 1_048_576} MB.")
        return upload


class SpeakersInputSerializer(serializers.Serializer[dict[str, Any]]):
    teacher_speakers = serializers.ListField(
        child=serializers.CharField(max_length=60),
        allow_empty=False,
        max_length=80,
        help_text="The names of the speakers who are the teacher; every other speaker is a student.",
    )


class QuoteSerializer(serializers.Serializer[dict[str, Any]]):
    line = serializers.IntegerField()
    speaker = serializers.CharField()
    quote = serializers.CharField()


class ScoreSerializer(serializers.Serializer[dict[str, Any]]):
    dimension = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    score = serializers.IntegerField(min_value=1, max_value=7)
    why = serializers.CharField()
    quotes = QuoteSerializer(many=True)


class SegmentSerializer(serializers.Serializer[dict[str, Any]]):
    index = serializers.IntegerField()
    first_line = serializers.IntegerField()
    last_line = serializers.IntegerField()
    start = serializers.FloatField(allow_null=True)
    end = serializers.FloatField(allow_null=True)
    student_talk_share = serializers.FloatField()
    scores = ScoreSerializer(many=True)


class MomentSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.CharField()
    line = serializers.IntegerField(help_text="The transcript line the quote comes from")
    speaker = serializers.CharField()
    quote = serializers.CharField(help_text="Verbatim from that line")
    title = serializers.CharField()
    detail = serializers.CharField()
    move = serializers.CharField(allow_blank=True)
    related_line = serializers.IntegerField(allow_null=True)
    text = serializers.CharField(allow_blank=True, help_text="A suggestion: what to try")
    phrased_by = serializers.CharField()


class UtteranceOutputSerializer(serializers.ModelSerializer[Utterance]):
    class Meta:
        model = Utterance
        fields = (
            "line",
            "speaker",
            "role",
            "text",
            "start",
            "end",
            "move",
            "question",
            "question_style",
            "uptake",
            "uptake_score",
            "student_talk",
            "wait_seconds",
        )


class ReportOutputSerializer(serializers.ModelSerializer[CoachingReport]):
    segments = SegmentSerializer(many=True)
    highlights = MomentSerializer(many=True)
    missed_opportunities = MomentSerializer(many=True)
    suggestions = MomentSerializer(many=True)
    utterances = serializers.SerializerMethodField()
    dimensions = serializers.SerializerMethodField()

    class Meta:
        model = CoachingReport
        fields = (
            "student_talk_share",
            "mean_uptake",
            "open_question_share",
            "pressing_reasoning_rate",
            "metrics",
            "segments",
            "highlights",
            "missed_opportunities",
            "suggestions",
            "utterances",
            "dimensions",
            "provenance",
            "updated_at",
        )

    @extend_schema_field(UtteranceOutputSerializer(many=True))
    def get_utterances(self, report: CoachingReport) -> list[dict[str, Any]]:
        return UtteranceOutputSerializer(transcript_utterances(transcript=report.transcript), many=True).data  # type: ignore[return-value]

    @extend_schema_field(serializers.ListField(child=serializers.DictField(child=serializers.CharField())))
    def get_dimensions(self, report: CoachingReport) -> list[dict[str, str]]:
        return dimensions_documented()


class TrendRowSerializer(serializers.Serializer[dict[str, Any]]):
    transcript_id = serializers.IntegerField()
    title = serializers.CharField()
    lesson_date = serializers.DateField()
    student_talk_share = serializers.FloatField()
    mean_uptake = serializers.FloatField(allow_null=True)
    open_question_share = serializers.FloatField(allow_null=True)
    pressing_reasoning_rate = serializers.FloatField(allow_null=True)
    suggestions = serializers.IntegerField()


# --- Views ---------------------------------------------------------------------------------------


class TranscriptListApi(APIView):
    permission_classes = [IsTeacherOrAdmin]
    pagination_class = StandardPagination  # the schema shows the page wrapper
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=TranscriptOutputSerializer(many=True), summary="The caller's transcripts (admins: all)")
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, request, transcript_list_for_user(user=request.user), TranscriptOutputSerializer
        )

    @extend_schema(
        request={"multipart/form-data": TranscriptUploadInputSerializer},
        responses={201: TranscriptOutputSerializer},
        summary="Upload a transcript; its speakers (guessed) then await confirmation",
    )
    def post(self, request: Request) -> Response:
        data = TranscriptUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        transcript = transcript_upload(
            teacher=request.user,
            data=upload.read(),
            filename=upload.name,
            title=data.validated_data.get("title", ""),
            lesson_date=data.validated_data.get("lesson_date"),
        )
        return Response(TranscriptOutputSerializer(transcript).data, status=status.HTTP_201_CREATED)


class TranscriptDetailApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(responses=TranscriptOutputSerializer, summary="A transcript and the state of its analysis job")
    def get(self, request: Request, transcript_id: int) -> Response:
        transcript = transcript_get_for_user(user=request.user, transcript_id=transcript_id)
        return Response(TranscriptOutputSerializer(transcript).data)


class TranscriptSpeakersApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(
        request=SpeakersInputSerializer,
        responses={202: JobOutputSerializer},
        summary="Confirm which speakers are the teacher and start the analysis (a background job)",
    )
    def post(self, request: Request, transcript_id: int) -> Response:
        transcript = transcript_get_for_user(user=request.user, transcript_id=transcript_id)
        data = SpeakersInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = transcript_speakers_confirm(
            transcript=transcript, user=request.user, teacher_speakers=data.validated_data["teacher_speakers"]
        )
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class TranscriptReportApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(responses=ReportOutputSerializer, summary="The coaching report (409 while it is being made)")
    def get(self, request: Request, transcript_id: int) -> Response:
        transcript = transcript_get_for_user(user=request.user, transcript_id=transcript_id)
        report = report_for(transcript=transcript)
        if report is None or transcript.is_busy:
            if transcript.status == Transcript.Status.FAILED:
                raise ConflictError(f"The analysis failed: {transcript.error}", code="analysis_failed")
            raise ConflictError(
                f"The report is not ready: the transcript is “{transcript.get_status_display()}”.", code="not_ready"
            )
        return Response(ReportOutputSerializer(report).data)


class TeacherTrendsApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(responses=TrendRowSerializer(many=True), summary="The caller's analysed lessons over time")
    def get(self, request: Request) -> Response:
        rows = teacher_trends(user=request.user)
        return Response(TrendRowSerializer(rows, many=True).data)  # type: ignore[arg-type]
