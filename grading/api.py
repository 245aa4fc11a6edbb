"""Grading API: assignments, students' answers, the review of grades and their release.

One view per operation, each with its own input and output serializers. Every queryset is filtered by
who is asking (grading.selectors); every write goes through grading.services.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import HasAnyRole, IsStudent, IsTeacherOrAdmin, user_role
from accounts.selectors import course_student_list
from core.api import StandardPagination, paginated_response
from core.api_views import JobOutputSerializer
from grading.models import Assignment, Grade, Label, Question, Submission
from grading.selectors import (
    assignment_get_for_user,
    assignment_list_for_user,
    grade_get_for_user,
    grade_list_released_for_student,
    grade_queue,
    question_get_for_user,
    question_ids_released_for_student,
    submission_list_current_for_student,
)
from grading.services import (
    assignment_grading_start,
    grade_accept,
    grade_override,
    grades_release,
    submission_create,
)

# --- Serializers ------------------------------------------------------------------------------------


class AssignmentOutputSerializer(serializers.ModelSerializer[Assignment]):
    course_name = serializers.CharField(source="course.name", read_only=True)
    question_count = serializers.IntegerField(read_only=True)
    answer_count = serializers.IntegerField(
        read_only=True, help_text="Current answers: the caller's own for a student, every student's for a teacher."
    )

    class Meta:
        model = Assignment
        fields: tuple[str, ...] = (
            "id",
            "course",
            "course_name",
            "title",
            "description",
            "question_count",
            "answer_count",
            "created_at",
        )


class QuestionOutputSerializer(serializers.ModelSerializer[Question]):
    reference_answers = serializers.SerializerMethodField(
        help_text="Null for a student while the question hides them and their grade is not released."
    )
    rubric = serializers.SerializerMethodField()

    class Meta:
        model = Question
        fields = ("id", "position", "text", "max_points", "is_reference_hidden", "reference_answers", "rubric")

    def _is_shown(self, question: Question) -> bool:
        if not self.context.get("is_student"):
            return True
        return not question.is_reference_hidden or question.pk in self.context.get("released_question_ids", set())

    def get_reference_answers(self, question: Question) -> list[str] | None:
        return list(question.reference_answers) if self._is_shown(question) else None

    def get_rubric(self, question: Question) -> list[dict[str, Any]] | None:
        return list(question.rubric) if self._is_shown(question) else None


class AssignmentDetailOutputSerializer(AssignmentOutputSerializer):
    questions = QuestionOutputSerializer(many=True, read_only=True)

    class Meta(AssignmentOutputSerializer.Meta):
        fields = (*AssignmentOutputSerializer.Meta.fields, "questions")


class SubmissionInputSerializer(serializers.Serializer[dict[str, Any]]):
    question = serializers.IntegerField(help_text="The question's id.")
    # Emptiness and length are checked by submission_create, which words the message for students.
    answer_text = serializers.CharField(allow_blank=True, trim_whitespace=False)


class SubmissionOutputSerializer(serializers.ModelSerializer[Submission]):
    question_position = serializers.IntegerField(source="question.position", read_only=True)
    assignment = serializers.IntegerField(source="question.assignment_id", read_only=True)

    class Meta:
        model = Submission
        fields = ("id", "assignment", "question", "question_position", "answer_text", "submitted_at", "is_current")


class SubmissionFilterSerializer(serializers.Serializer[dict[str, Any]]):
    assignment = serializers.IntegerField(required=False)


class GradeOutputSerializer(serializers.ModelSerializer[Grade]):
    """A grade as its teachers see it, with the model's own verdict and its provenance."""

    student = serializers.CharField(source="submission.student.username", read_only=True)
    student_name = serializers.CharField(source="submission.student.display_name", read_only=True)
    question = serializers.IntegerField(source="submission.question_id", read_only=True)
    question_position = serializers.IntegerField(source="submission.question.position", read_only=True)
    answer_text = serializers.CharField(source="submission.answer_text", read_only=True)
    max_points = serializers.DecimalField(
        source="submission.question.max_points", max_digits=6, decimal_places=2, read_only=True
    )
    reviewer: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Grade
        fields = (
            "id",
            "submission",
            "student",
            "student_name",
            "question",
            "question_position",
            "answer_text",
            "label",
            "score",
            "max_points",
            "confidence",
            "feedback",
            "rubric_met",
            "rubric_missed",
            "status",
            "model_label",
            "model_score",
            "was_overridden",
            "reviewer",
            "reviewed_at",
            "released_at",
            "provenance",
        )


class ReleasedGradeOutputSerializer(serializers.ModelSerializer[Grade]):
    """A released grade as its student sees it."""

    assignment = serializers.IntegerField(source="submission.question.assignment_id", read_only=True)
    assignment_title = serializers.CharField(source="submission.question.assignment.title", read_only=True)
    question = serializers.IntegerField(source="submission.question_id", read_only=True)
    question_position = serializers.IntegerField(source="submission.question.position", read_only=True)
    question_text = serializers.CharField(source="submission.question.text", read_only=True)
    answer_text = serializers.CharField(source="submission.answer_text", read_only=True)
    max_points = serializers.DecimalField(
        source="submission.question.max_points", max_digits=6, decimal_places=2, read_only=True
    )

    class Meta:
        model = Grade
        fields = (
            "id",
            "assignment",
            "assignment_title",
            "question",
            "question_position",
            "question_text",
            "answer_text",
            "label",
            "score",
            "max_points",
            "feedback",
            "rubric_met",
            "rubric_missed",
            "released_at",
        )


class GradeFilterSerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.ChoiceField(choices=Label.choices, required=False)  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=Grade.Status.choices, required=False)
    question = serializers.IntegerField(required=False, help_text="A question's id.")
    student = serializers.IntegerField(required=False, help_text="A student's user id.")


class GradeOverrideInputSerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.ChoiceField(choices=Label.choices)  # type: ignore[assignment]
    score = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, allow_null=True, help_text="Omit for the label's usual score."
    )
    feedback = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Omit to keep the feedback."
    )


class ReleaseOutputSerializer(serializers.Serializer[dict[str, int]]):
    released = serializers.IntegerField(help_text="How many reviewed grades were released.")


# --- Views ------------------------------------------------------------------------------------------


class AssignmentListApi(APIView):
    permission_classes = [HasAnyRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        parameters=[OpenApiParameter("course", int, description="Only this course's assignments.")],
        responses=AssignmentOutputSerializer(many=True),
        summary="Assignments of the caller's courses",
    )
    def get(self, request: Request) -> Response:
        assignments = assignment_list_for_user(user=request.user)
        course = request.query_params.get("course")
        if course:
            assignments = assignments.filter(course_id=course) if course.isdigit() else assignments.none()
        return paginated_response(self, request, assignments, AssignmentOutputSerializer)


class AssignmentDetailApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(
        responses=AssignmentDetailOutputSerializer,
        summary="One assignment with its questions (students see hidden reference answers after release)",
    )
    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        is_student = user_role(request.user) == Role.STUDENT
        context = {
            "is_student": is_student,
            "released_question_ids": (
                question_ids_released_for_student(student=request.user, assignment=assignment) if is_student else set()
            ),
        }
        return Response(AssignmentDetailOutputSerializer(assignment, context=context).data)


class AssignmentGradeApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(
        request=None, responses={202: JobOutputSerializer}, summary="Grade every ungraded answer (a background job)"
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        job = assignment_grading_start(assignment=assignment, user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class AssignmentReleaseApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    class InputSerializer(serializers.Serializer):
        question = serializers.IntegerField(required=False, help_text="Only this question's grades.")
        student = serializers.IntegerField(required=False, help_text="Only this student's grades.")

    @extend_schema(
        request=InputSerializer,
        responses=ReleaseOutputSerializer,
        summary="Release the reviewed grades of an assignment, a question or a student",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = student = None
        if "question" in data.validated_data:
            question = assignment.questions.filter(pk=data.validated_data["question"]).first()
            if question is None:
                raise ValidationError({"question": ["No such question in this assignment."]})
        if "student" in data.validated_data:
            student = course_student_list(course=assignment.course).filter(pk=data.validated_data["student"]).first()
            if student is None:
                raise ValidationError({"student": ["No such student in this course."]})
        released = grades_release(assignment=assignment, user=request.user, question=question, student=student)
        return Response(ReleaseOutputSerializer({"released": released}).data)


class AssignmentGradeListApi(APIView):
    permission_classes = [IsTeacherOrAdmin]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        parameters=[GradeFilterSerializer],
        responses=GradeOutputSerializer(many=True),
        summary="An assignment's grades, least confident first",
    )
    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        filters = GradeFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        grades = grade_queue(
            assignment=assignment,
            question_id=data.get("question"),
            label=data.get("label"),
            status=data.get("status"),
            student_id=data.get("student"),
        )
        return paginated_response(self, request, grades, GradeOutputSerializer)


class GradeAcceptApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(request=None, responses=GradeOutputSerializer, summary="Accept the model's grade")
    def post(self, request: Request, grade_id: int) -> Response:
        grade = grade_accept(grade=grade_get_for_user(user=request.user, grade_id=grade_id), user=request.user)
        return Response(GradeOutputSerializer(grade_get_for_user(user=request.user, grade_id=grade.pk)).data)


class GradeOverrideApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(
        request=GradeOverrideInputSerializer,
        responses=GradeOutputSerializer,
        summary="Change a grade's label and score",
    )
    def post(self, request: Request, grade_id: int) -> Response:
        grade = grade_get_for_user(user=request.user, grade_id=grade_id)
        serializer = GradeOverrideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        grade = grade_override(
            grade=grade, user=request.user, label=data["label"], score=data.get("score"), feedback=data.get("feedback")
        )
        return Response(GradeOutputSerializer(grade_get_for_user(user=request.user, grade_id=grade.pk)).data)


class SubmissionListApi(APIView):
    permission_classes = [IsStudent]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        parameters=[SubmissionFilterSerializer],
        responses=SubmissionOutputSerializer(many=True),
        summary="The caller's current answers",
    )
    def get(self, request: Request) -> Response:
        filters = SubmissionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        submissions = submission_list_current_for_student(student=request.user).order_by(
            "question__assignment", "question__position"
        )
        if "assignment" in filters.validated_data:
            submissions = submissions.filter(question__assignment_id=filters.validated_data["assignment"])
        return paginated_response(self, request, submissions, SubmissionOutputSerializer)


class SubmissionCreateApi(APIView):
    permission_classes = [IsStudent]

    @extend_schema(
        request=SubmissionInputSerializer,
        responses={201: SubmissionOutputSerializer},
        summary="Answer a question (replaces the current answer; earlier ones are kept)",
    )
    def post(self, request: Request) -> Response:
        serializer = SubmissionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        question = question_get_for_user(user=request.user, question_id=data["question"])
        submission = submission_create(question=question, student=request.user, answer_text=data["answer_text"])
        return Response(SubmissionOutputSerializer(submission).data, status=status.HTTP_201_CREATED)


class GradeReleasedListApi(APIView):
    permission_classes = [IsStudent]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(responses=ReleasedGradeOutputSerializer(many=True), summary="The caller's released grades")
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, request, grade_list_released_for_student(student=request.user), ReleasedGradeOutputSerializer
        )
