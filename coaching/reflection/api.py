"""Reflection-question API: generate (a background job), read a dialogue, the question bank,
assignments and answers. One view per operation; querysets filtered by who asks (selectors); writes
through services."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasAnyRole, IsStudent, IsTeacherOrAdmin
from accounts.selectors import course_get_for_user
from coaching.reflection.dialogue import DEFAULT_MAX_ROUNDS, question_spec_build
from coaching.reflection.materials import materials_text_from_upload
from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment, Round
from coaching.reflection.selectors import (
    answer_list_for_assignment,
    assignment_get_for_user,
    assignment_list_for_user,
    bank_question_get_for_user,
    bank_question_list_for_user,
    dialogue_get_for_user,
    dialogue_list_for_user,
)
from coaching.reflection.services import (
    answer_submit,
    answers_send_to_review,
    bank_question_save,
    bank_question_update,
    dialogue_start,
    question_assign,
)
from core.api import StandardPagination, paginated_response
from core.api_views import JobOutputSerializer
from core.errors import ApplicationError


def _course_filter(request: Request) -> int | None:
    value = request.query_params.get("course")
    if value in (None, ""):
        return None
    if not str(value).isdigit():
        raise ApplicationError("The course filter is a course id.", extra={"fields": {"course": "A whole number."}})
    return int(value)


class ReflectionCheckSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class ReflectionRoundOutputSerializer(serializers.ModelSerializer[Round]):
    checks = ReflectionCheckSerializer(many=True)
    passed = serializers.BooleanField(read_only=True)

    class Meta:
        model = Round
        fields = (
            "number", "draft", "rationale", "draft_source", "checks", "passed", "coaching", "coaching_source",
            "is_stop_signal", "provenance", "created_at",
        )  # fmt: skip


class ReflectionDialogueOutputSerializer(serializers.ModelSerializer[Dialogue]):
    rounds = ReflectionRoundOutputSerializer(many=True, read_only=True)
    final_checks = ReflectionCheckSerializer(many=True)
    final_passes_checks = serializers.BooleanField(read_only=True)
    job = serializers.UUIDField(source="job_id", read_only=True, allow_null=True)

    class Meta:
        model = Dialogue
        fields = (
            "id", "course", "topic", "concepts", "level", "materials_name", "max_rounds", "status", "stop_reason",
            "final_question", "final_source", "final_checks", "final_passes_checks", "provenance", "error", "job",
            "rounds", "created_at", "finished_at",
        )  # fmt: skip


class ReflectionDialogueSummarySerializer(serializers.ModelSerializer[Dialogue]):
    class Meta:
        model = Dialogue
        fields = (
            "id",
            "course",
            "topic",
            "level",
            "status",
            "stop_reason",
            "final_question",
            "final_source",
            "created_at",
        )


class ReflectionDialogueInputSerializer(serializers.Serializer[dict[str, Any]]):
    course = serializers.IntegerField()
    topic = serializers.CharField(allow_blank=True, trim_whitespace=False)
    concepts = serializers.ListField(child=serializers.CharField(allow_blank=True), allow_empty=True)
    level = serializers.CharField(allow_blank=True)
    materials = serializers.CharField(required=False, allow_blank=True, default="")
    materials_file = serializers.FileField(required=False, help_text="A .txt, .md, .pdf or .docx file (multipart).")
    max_rounds = serializers.IntegerField(required=False, default=DEFAULT_MAX_ROUNDS)


class ReflectionDialogueStartOutputSerializer(serializers.Serializer[dict[str, Any]]):
    dialogue = serializers.IntegerField()
    job = JobOutputSerializer()


class DialogueListApi(APIView):
    permission_classes = [IsTeacherOrAdmin]
    pagination_class = StandardPagination  # the schema shows the page wrapper
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        parameters=[OpenApiParameter("course", int, description="Only this course's dialogues.")],
        responses=ReflectionDialogueSummarySerializer(many=True),
        summary="Reflection-question dialogues of the caller's courses",
    )
    def get(self, request: Request) -> Response:
        dialogues = dialogue_list_for_user(user=request.user)
        course = _course_filter(request)
        if course is not None:
            dialogues = dialogues.filter(course_id=course)
        return paginated_response(self, request, dialogues, ReflectionDialogueSummarySerializer)

    @extend_schema(
        request=ReflectionDialogueInputSerializer,
        responses={202: ReflectionDialogueStartOutputSerializer},
        summary="Write a reflection question (a background job; poll the dialogue or the job)",
    )
    def post(self, request: Request) -> Response:
        data: Any = request.data
        if isinstance(data, QueryDict):  # a multipart form: concepts repeated, or one comma-separated field
            data = data.copy()
            data.setlist("concepts", [part for value in data.getlist("concepts") for part in str(value).split(",")])
        serializer = ReflectionDialogueInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        course = course_get_for_user(user=request.user, course_id=values["course"])
        materials = values.get("materials", "")
        materials_name = ""
        upload = values.get("materials_file")
        if upload is not None:
            materials = materials_text_from_upload(name=upload.name, data=upload.read())
            materials_name = upload.name
        spec = question_spec_build(
            topic=values["topic"],
            concepts=values["concepts"],
            level=values["level"],
            materials=materials,
            max_rounds=values["max_rounds"],
        )
        dialogue = dialogue_start(user=request.user, course=course, spec=spec, materials_name=materials_name)
        body = {"dialogue": dialogue.pk, "job": JobOutputSerializer(dialogue.job).data}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class DialogueDetailApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(
        responses=ReflectionDialogueOutputSerializer, summary="A dialogue with its rounds, checks and provenance"
    )
    def get(self, request: Request, dialogue_id: int) -> Response:
        dialogue = dialogue_get_for_user(user=request.user, dialogue_id=dialogue_id)
        return Response(ReflectionDialogueOutputSerializer(dialogue).data)


class ReflectionBankQuestionOutputSerializer(serializers.ModelSerializer[BankQuestion]):
    checks = ReflectionCheckSerializer(many=True)
    is_edited = serializers.BooleanField(read_only=True)

    class Meta:
        model = BankQuestion
        fields = (
            "id",
            "course",
            "dialogue",
            "text",
            "generated_text",
            "is_edited",
            "rating",
            "checks",
            "created_at",
            "updated_at",
        )


class ReflectionBankQuestionInputSerializer(serializers.Serializer[dict[str, Any]]):
    dialogue = serializers.IntegerField(help_text="The finished dialogue whose final question is saved.")
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="The question as edited.")
    rating = serializers.IntegerField(required=False, allow_null=True, help_text="1 to 5.")


class ReflectionBankQuestionUpdateSerializer(serializers.Serializer[dict[str, Any]]):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    rating = serializers.IntegerField(required=False, allow_null=True)


class BankQuestionListApi(APIView):
    permission_classes = [IsTeacherOrAdmin]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        parameters=[OpenApiParameter("course", int, description="Only this course's bank.")],
        responses=ReflectionBankQuestionOutputSerializer(many=True),
        summary="The question banks of the caller's courses",
    )
    def get(self, request: Request) -> Response:
        questions = bank_question_list_for_user(user=request.user, course_id=_course_filter(request))
        return paginated_response(self, request, questions, ReflectionBankQuestionOutputSerializer)

    @extend_schema(
        request=ReflectionBankQuestionInputSerializer,
        responses={201: ReflectionBankQuestionOutputSerializer},
        summary="Save a dialogue's final question (edited, rated) to its course's bank",
    )
    def post(self, request: Request) -> Response:
        serializer = ReflectionBankQuestionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dialogue = dialogue_get_for_user(user=request.user, dialogue_id=serializer.validated_data["dialogue"])
        question = bank_question_save(
            user=request.user,
            dialogue=dialogue,
            text=serializer.validated_data["text"],
            rating=serializer.validated_data.get("rating"),
        )
        return Response(ReflectionBankQuestionOutputSerializer(question).data, status=status.HTTP_201_CREATED)


class BankQuestionDetailApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(responses=ReflectionBankQuestionOutputSerializer, summary="A question of the bank")
    def get(self, request: Request, question_id: int) -> Response:
        question = bank_question_get_for_user(user=request.user, question_id=question_id)
        return Response(ReflectionBankQuestionOutputSerializer(question).data)

    @extend_schema(
        request=ReflectionBankQuestionUpdateSerializer,
        responses=ReflectionBankQuestionOutputSerializer,
        summary="Edit and rate",
    )
    def patch(self, request: Request, question_id: int) -> Response:
        question = bank_question_get_for_user(user=request.user, question_id=question_id)
        serializer = ReflectionBankQuestionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rating = serializer.validated_data.get("rating", question.rating)
        question = bank_question_update(
            user=request.user, question=question, text=serializer.validated_data["text"], rating=rating
        )
        return Response(ReflectionBankQuestionOutputSerializer(question).data)


class ReflectionAssignmentOutputSerializer(serializers.ModelSerializer[QuestionAssignment]):
    question_text = serializers.CharField(source="question.text", read_only=True)
    course_name = serializers.CharField(source="course.name", read_only=True)
    answer_count = serializers.SerializerMethodField(
        help_text="Every student's answers for a teacher; 1 or 0 (the caller's own) for a student."
    )

    class Meta:
        model = QuestionAssignment
        fields = ("id", "question", "question_text", "course", "course_name", "due_at", "answer_count", "created_at")

    def get_answer_count(self, assignment: QuestionAssignment) -> int:
        if hasattr(assignment, "my_answers"):
            return len(assignment.my_answers)
        return int(getattr(assignment, "answer_count", 0))


class ReflectionAssignmentInputSerializer(serializers.Serializer[dict[str, Any]]):
    question = serializers.IntegerField()
    due_at = serializers.CharField(help_text="YYYY-MM-DD (end of that day) or an ISO 8601 date and time.")


class AssignmentListApi(APIView):
    permission_classes = [HasAnyRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        responses=ReflectionAssignmentOutputSerializer(many=True),
        summary="Reflection questions assigned in the caller's courses",
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, request, assignment_list_for_user(user=request.user), ReflectionAssignmentOutputSerializer
        )

    @extend_schema(
        request=ReflectionAssignmentInputSerializer,
        responses={201: ReflectionAssignmentOutputSerializer},
        summary="Assign a bank question to its course with a due date (again: moves the due date)",
    )
    def post(self, request: Request) -> Response:
        if not IsTeacherOrAdmin().has_permission(request, self):
            self.permission_denied(request, message=IsTeacherOrAdmin.message)
        serializer = ReflectionAssignmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = bank_question_get_for_user(user=request.user, question_id=serializer.validated_data["question"])
        assignment = question_assign(user=request.user, question=question, due_at=serializer.validated_data["due_at"])
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment.pk)
        return Response(ReflectionAssignmentOutputSerializer(assignment).data, status=status.HTTP_201_CREATED)


class ReflectionAnswerOutputSerializer(serializers.ModelSerializer[Answer]):
    student = serializers.CharField(source="student.username", read_only=True)
    student_name = serializers.CharField(source="student.display_name", read_only=True)

    class Meta:
        model = Answer
        fields = ("id", "assignment", "student", "student_name", "text", "submitted_at", "updated_at")


class ReflectionAnswerInputSerializer(serializers.Serializer[dict[str, Any]]):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


class AnswerListApi(APIView):
    permission_classes = [HasAnyRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        responses=ReflectionAnswerOutputSerializer(many=True),
        summary="Answers to an assigned question: every student's for its teachers, the caller's own for a student",
    )
    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        answers = answer_list_for_assignment(user=request.user, assignment=assignment)
        return paginated_response(self, request, answers, ReflectionAnswerOutputSerializer)

    @extend_schema(
        request=ReflectionAnswerInputSerializer,
        responses={201: ReflectionAnswerOutputSerializer},
        summary="Answer an assigned question (students; again: replaces the answer)",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        if not IsStudent().has_permission(request, self):
            self.permission_denied(request, message=IsStudent.message)
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        serializer = ReflectionAnswerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = answer_submit(user=request.user, assignment=assignment, text=serializer.validated_data["text"])
        return Response(ReflectionAnswerOutputSerializer(answer).data, status=status.HTTP_201_CREATED)


class ReflectionReviewHandoffSerializer(serializers.Serializer[dict[str, Any]]):
    assignment_id = serializers.IntegerField(help_text="The grading assignment that holds the answers.")
    question_id = serializers.IntegerField(help_text="The grading question (short answer, no reference).")
    submissions = serializers.IntegerField(help_text="Current submissions of that question.")
    url = serializers.CharField(help_text="The page where the teacher reviews them.")
    sent_at = serializers.DateTimeField()
    sent_by = serializers.IntegerField()


class AnswerReviewApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(
        request=None,
        responses={200: ReflectionReviewHandoffSerializer},
        summary="Send an assigned question's answers to the grading review queue (a short-answer question "
        "without a reference)",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        handoff = answers_send_to_review(user=request.user, assignment=assignment)
        return Response(ReflectionReviewHandoffSerializer(handoff).data)
