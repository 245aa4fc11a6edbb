"""Accounts API: who am I, my courses, a course's roster. One view per operation."""

from __future__ import annotations

from typing import cast

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import token_expires_at
from accounts.lockout import lockout_message
from accounts.models import Course, Role, User
from accounts.permissions import HasAnyRole, IsTeacherOrAdmin, course_is_taught_by
from accounts.selectors import course_get_for_user, course_list_for_user, course_student_list
from accounts.services import enrollment_create, enrollment_delete, token_delete_for_user, token_issue
from core.api import StandardPagination, paginated_response
from core.errors import ApplicationError, NotFoundError, PermissionDeniedError


class TooManyAttemptsError(ApplicationError):
    status_code = 429
    code = "too_many_attempts"


class TokenCreateInputSerializer(serializers.Serializer[dict[str, str]]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenOutputSerializer(serializers.Serializer[object]):
    token = serializers.CharField(source="key")
    expires_at = serializers.DateTimeField()


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token (`Authorization: Token <key>`).

    Failed attempts count towards the same lockout as the login page (django-axes).
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenCreateInputSerializer,
        responses={200: TokenOutputSerializer},
        auth=[],
        summary="Get an API token (expires; deleted on logout)",
    )
    def post(self, request: Request) -> Response:
        serializer = TokenCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The plain Django request: django-axes marks it when the attempt is locked out.
        http_request = request._request
        user = authenticate(
            http_request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(http_request, "axes_locked_out", False):
            raise TooManyAttemptsError(lockout_message())
        if user is None or not user.is_active:
            raise ApplicationError("Wrong username or password.", code="authentication_failed")
        token = token_issue(user=user)
        return Response({"token": token.key, "expires_at": token_expires_at(token)})


class TokenDeleteApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(request=None, responses={204: None}, summary="Log out of the API: the token stops working")
    def post(self, request: Request) -> Response:
        token_delete_for_user(user=cast(User, request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserOutputSerializer(serializers.ModelSerializer[User]):
    role = serializers.CharField(source="effective_role")

    class Meta:
        model = User
        fields = ("id", "username", "first_name", "last_name", "email", "role")


class CourseOutputSerializer(serializers.ModelSerializer[Course]):
    teachers: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="username"
    )
    student_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Course
        fields = ("id", "code", "name", "description", "teachers", "student_count", "created_at")


class StudentOutputSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ("id", "username", "first_name", "last_name")


class EnrollmentInputSerializer(serializers.Serializer[dict[str, str]]):
    username = serializers.CharField(max_length=150)


class MeApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(responses=UserOutputSerializer, summary="The signed-in user and their role")
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(cast(User, request.user)).data)


class CourseListApi(APIView):
    permission_classes = [HasAnyRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(responses=CourseOutputSerializer(many=True), summary="Courses the caller may open")
    def get(self, request: Request) -> Response:
        return paginated_response(self, request, course_list_for_user(user=request.user), CourseOutputSerializer)


class CourseDetailApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(responses=CourseOutputSerializer, summary="One course")
    def get(self, request: Request, course_id: int) -> Response:
        course = course_get_for_user(user=request.user, course_id=course_id)
        return Response(CourseOutputSerializer(course).data)


def _taught_course(request: Request, course_id: int) -> Course:
    course = course_get_for_user(user=request.user, course_id=course_id)
    if not course_is_taught_by(course=course, user=request.user):
        raise PermissionDeniedError("Only the course's teachers and admins may manage its students.")
    return course


class CourseStudentListApi(APIView):
    permission_classes = [IsTeacherOrAdmin]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(responses=StudentOutputSerializer(many=True), summary="Students enrolled in a course")
    def get(self, request: Request, course_id: int) -> Response:
        course = _taught_course(request, course_id)
        return paginated_response(self, request, course_student_list(course=course), StudentOutputSerializer)

    @extend_schema(
        request=EnrollmentInputSerializer, responses={201: StudentOutputSerializer}, summary="Enrol a student"
    )
    def post(self, request: Request, course_id: int) -> Response:
        course = _taught_course(request, course_id)
        serializer = EnrollmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        student = _student_by_username(serializer.validated_data["username"], asked_by=cast(User, request.user))
        enrollment_create(course=course, student=student)
        return Response(StudentOutputSerializer(student).data, status=status.HTTP_201_CREATED)


class CourseStudentDeleteApi(APIView):
    permission_classes = [IsTeacherOrAdmin]

    @extend_schema(responses={204: None}, summary="Remove a student from a course")
    def delete(self, request: Request, course_id: int, username: str) -> Response:
        course = _taught_course(request, course_id)
        student = course_student_list(course=course).filter(username=username).first()
        if student is None:
            raise NotFoundError(f"No student called “{username}” is enrolled in this course.")
        enrollment_delete(course=course, student=student)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _student_by_username(username: str, *, asked_by: User) -> User:
    """The account to enrol. A teacher gets one answer for "no such user" and "not a student", so that
    they cannot learn which usernames exist or what role they have; an admin (who manages accounts)
    is told which it is."""
    if asked_by.is_admin:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist as error:
            raise NotFoundError(f"No user is called “{username}”.") from error
    student = User.objects.filter(username=username, role=Role.STUDENT, is_superuser=False, is_active=True).first()
    if student is None:
        raise NotFoundError(f"No student account is called “{username}”.")
    return student
