"""Tutor API: problems, sessions, messages and the reply stream. One view per operation.

Every queryset goes through tutor.selectors, which filter by role and enrolment; a session that is
not the caller's is a 404, an operation for another role a 403.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasAnyRole, IsStudent, IsTeacherOrAdmin
from core.api import StandardPagination, paginated_response
from core.errors import NotFoundError
from tutor.models import Problem, Turn, TutorSession
from tutor.replies import ReplyEvents, reply_stream_response
from tutor.selectors import (
    problem_get_for_user,
    problem_list_for_user,
    session_get_for_user,
    session_list_for_user,
    turn_get_for_user,
)
from tutor.services import MAX_MESSAGE_CHARS, session_start, turn_flag, turn_student_create


class ProblemOutputSerializer(serializers.ModelSerializer[Problem]):
    course = serializers.IntegerField(source="course_id")

    class Meta:
        model = Problem
        fields = ("id", "course", "title", "statement", "is_assigned")


class TurnOutputSerializer(serializers.ModelSerializer[Turn]):
    # Plain strings in the schema: other apps' "status" enums would collide with these names.
    speaker = serializers.CharField(read_only=True, help_text="student or tutor")
    move = serializers.CharField(read_only=True, help_text="focus, probing, telling, generic; empty for students")
    status = serializers.CharField(read_only=True, help_text="pending, generating or complete")
    stream_url = serializers.SerializerMethodField()

    class Meta:
        model = Turn
        fields = (
            "id",
            "speaker",
            "text",
            "move",
            "status",
            "provenance",
            "is_flagged",
            "flag_reason",
            "better_reply",
            "created_at",
            "stream_url",
        )

    def get_stream_url(self, turn: Turn) -> str | None:
        if turn.speaker != Turn.Speaker.TUTOR:
            return None
        request = self.context.get("request")
        path = reverse("api-tutor-turn-stream", args=[turn.pk])
        return request.build_absolute_uri(path) if request else path

    def to_representation(self, instance: Turn) -> dict[str, Any]:
        data = super().to_representation(instance)
        request = self.context.get("request")
        role = getattr(getattr(request, "user", None), "effective_role", "")
        if role == "student":
            # Students see the tutor's words, not its bookkeeping (moves, model, the policy's plan).
            for name in ("provenance", "move", "better_reply", "flag_reason"):
                data.pop(name, None)
        return data


SESSION_FIELDS: tuple[str, ...] = (
    "id",
    "student",
    "problem",
    "status",
    "attempts",
    "is_answer_revealed",
    "started_at",
    "finished_at",
    "turn_count",
    "telling_count",
)


class SessionOutputSerializer(serializers.ModelSerializer[TutorSession]):
    status = serializers.CharField(read_only=True, help_text="open, solved, solved_after_reveal or abandoned")
    problem = ProblemOutputSerializer(read_only=True)
    student = serializers.CharField(source="student.username")
    turn_count = serializers.IntegerField(read_only=True, default=0)
    telling_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = TutorSession
        fields: tuple[str, ...] = SESSION_FIELDS


class SessionDetailOutputSerializer(SessionOutputSerializer):
    turns = TurnOutputSerializer(many=True, read_only=True)

    class Meta(SessionOutputSerializer.Meta):
        fields = (*SESSION_FIELDS, "turns")


class SessionFilterSerializer(serializers.Serializer[dict[str, Any]]):
    course = serializers.IntegerField(required=False, min_value=1)
    problem = serializers.IntegerField(required=False, min_value=1)


class SessionCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    problem = serializers.IntegerField()


class MessageInputSerializer(serializers.Serializer[dict[str, Any]]):
    # Length is checked by the service so that the API and the page give the same message.
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_MESSAGE_CHARS * 20)


class MessageOutputSerializer(serializers.Serializer[dict[str, Any]]):
    student_turn = TurnOutputSerializer()
    reply = TurnOutputSerializer()
    stream_url = serializers.CharField()
    session = SessionOutputSerializer()


class FlagInputSerializer(serializers.Serializer[dict[str, Any]]):
    is_flagged = serializers.BooleanField(default=True)
    better_reply = serializers.CharField(allow_blank=True, required=False, default="", max_length=MAX_MESSAGE_CHARS)


class ProblemListApi(APIView):
    permission_classes = [HasAnyRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(responses=ProblemOutputSerializer(many=True), summary="Problems: assigned ones for students")
    def get(self, request: Request) -> Response:
        return paginated_response(self, request, problem_list_for_user(user=request.user), ProblemOutputSerializer)


class SessionListApi(APIView):
    permission_classes = [HasAnyRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    def get_permissions(self) -> list[Any]:
        return [IsStudent()] if self.request.method == "POST" else [HasAnyRole()]

    @extend_schema(
        parameters=[SessionFilterSerializer],
        responses=SessionOutputSerializer(many=True),
        summary="Tutor sessions the caller may read",
    )
    def get(self, request: Request) -> Response:
        filters = SessionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        sessions = session_list_for_user(
            user=request.user,
            course_id=filters.validated_data.get("course"),
            problem_id=filters.validated_data.get("problem"),
        )
        return paginated_response(self, request, sessions, SessionOutputSerializer)

    @extend_schema(
        request=SessionCreateInputSerializer,
        responses={201: SessionOutputSerializer, 200: SessionOutputSerializer},
        summary="Start a session on an assigned problem (or resume the open one: 200)",
    )
    def post(self, request: Request) -> Response:
        serializer = SessionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        problem = problem_get_for_user(user=request.user, problem_id=serializer.validated_data["problem"])
        session, created = session_start(student=request.user, problem=problem)
        session = session_list_for_user(user=request.user).get(pk=session.pk)
        return Response(
            SessionOutputSerializer(session).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SessionDetailApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(responses=SessionDetailOutputSerializer, summary="A session with its turns")
    def get(self, request: Request, session_id: int) -> Response:
        session = session_get_for_user(user=request.user, session_id=session_id)
        return Response(SessionDetailOutputSerializer(session, context={"request": request}).data)


class MessageCreateApi(APIView):
    permission_classes = [IsStudent]

    @extend_schema(
        request=MessageInputSerializer,
        responses={201: MessageOutputSerializer},
        summary="Send a message; the reply streams from `stream_url` (server-sent events)",
    )
    def post(self, request: Request, session_id: int) -> Response:
        serializer = MessageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = session_get_for_user(user=request.user, session_id=session_id)
        student_turn, reply = turn_student_create(
            session=session, student=request.user, text=serializer.validated_data["text"]
        )
        session = session_list_for_user(user=request.user).get(pk=session.pk)
        context = {"request": request}
        reply_data = TurnOutputSerializer(reply, context=context).data
        return Response(
            {
                "student_turn": TurnOutputSerializer(student_turn, context=context).data,
                "reply": reply_data,
                "stream_url": reply_data["stream_url"],
                "session": SessionOutputSerializer(session).data,
            },
            status=status.HTTP_201_CREATED,
        )


class EventStreamRenderer(BaseRenderer):
    """Lets clients ask for `text/event-stream`; errors before the stream starts come as one event."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return f"event: failed\ndata: {json.dumps(data)}\n\n".encode()


class ReplyStreamApi(APIView):
    permission_classes = [HasAnyRole]
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        responses={(200, "text/event-stream"): OpenApiResponse(response=OpenApiTypes.STR)},
        summary="The tutor's reply as server-sent events: `piece` (text) events, then `done` (the turn as JSON)",
    )
    def get(self, request: Request, turn_id: int) -> Any:
        turn = turn_get_for_user(user=request.user, turn_id=turn_id)
        if turn.speaker != Turn.Speaker.TUTOR:
            raise NotFoundError("Only the tutor's replies stream.")
        context = {"request": request}

        def render_done(done: Turn) -> str:
            return json.dumps(TurnOutputSerializer(done, context=context).data, default=str)

        events = ReplyEvents(
            turn_id=turn.pk,
            render_done=render_done,
            render_piece=lambda piece: json.dumps({"text": piece}),
            last_event_id=request.headers.get("Last-Event-ID") or request.query_params.get("offset"),
            turn=turn,
        )
        return reply_stream_response(request._request, events)


class TurnFlagApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(request=FlagInputSerializer, responses=TurnOutputSerializer, summary="Flag a tutor reply")
    def post(self, request: Request, turn_id: int) -> Response:
        serializer = FlagInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = turn_get_for_user(user=request.user, turn_id=turn_id)
        turn = turn_flag(teacher=request.user, turn=turn, **serializer.validated_data)
        return Response(TurnOutputSerializer(turn, context={"request": request}).data)
