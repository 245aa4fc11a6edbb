"""The data sets API (admins): the registry with its versions and rows, uploads, label corrections."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from core.api import StandardPagination, paginated_response
from core.api_views import JobOutputSerializer
from datasets_admin import selectors
from datasets_admin.models import CATEGORIES, Comment, Dataset, DatasetRow, DatasetVersion, LectureCourse
from datasets_admin.services import comment_label_toggle, upload_start


class DatasetVersionOutputSerializer(serializers.ModelSerializer[DatasetVersion]):
    class Meta:
        model = DatasetVersion
        fields = (
            "number",
            "source",
            "license",
            "row_count",
            "schema",
            "preview",
            "content_hash",
            "is_locked",
            "locked_by_job",
            "locked_at",
            "created_at",
            "updated_at",
        )


class DatasetOutputSerializer(serializers.ModelSerializer[Dataset]):
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ("slug", "name", "kind", "description", "owner_app", "created_at", "latest_version")

    @extend_schema_field(DatasetVersionOutputSerializer(allow_null=True))
    def get_latest_version(self, dataset: Dataset) -> dict[str, Any] | None:
        versions = sorted(dataset.versions.all(), key=lambda v: -v.number)
        return DatasetVersionOutputSerializer(versions[0]).data if versions else None


class DatasetDetailOutputSerializer(DatasetOutputSerializer):
    versions = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ("slug", "name", "kind", "description", "owner_app", "created_at", "latest_version", "versions")

    @extend_schema_field(DatasetVersionOutputSerializer(many=True))
    def get_versions(self, dataset: Dataset) -> list[Any]:
        return list(
            DatasetVersionOutputSerializer(sorted(dataset.versions.all(), key=lambda v: -v.number), many=True).data
        )


class DatasetRowOutputSerializer(serializers.ModelSerializer[DatasetRow]):
    class Meta:
        model = DatasetRow
        fields = ("position", "data")


class DatasetListApi(APIView):
    permission_classes = [IsAdminRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=list(Dataset.Kind.values), description="Only this kind.")],
        responses=DatasetOutputSerializer(many=True),
        summary="Every registered data set with its latest version",
    )
    def get(self, request: Request) -> Response:
        datasets = selectors.dataset_list()
        kind = request.query_params.get("kind")
        if kind:
            if kind not in Dataset.Kind.values:
                raise serializers.ValidationError(
                    {"kind": [f"Not a kind: choose one of {', '.join(Dataset.Kind.values)}."]}
                )
            datasets = datasets.filter(kind=kind)
        return paginated_response(self, request, datasets, DatasetOutputSerializer)


class DatasetDetailApi(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=DatasetDetailOutputSerializer, summary="One data set with all its versions")
    def get(self, request: Request, slug: str) -> Response:
        return Response(DatasetDetailOutputSerializer(selectors.dataset_get(slug=slug)).data)


class DatasetRowsApi(APIView):
    permission_classes = [IsAdminRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(responses=DatasetRowOutputSerializer(many=True), summary="The rows of one version, in order")
    def get(self, request: Request, slug: str, number: int) -> Response:
        version = selectors.dataset_version_get(slug=slug, number=number)
        return paginated_response(
            self, request, DatasetRow.objects.filter(version=version).order_by("position"), DatasetRowOutputSerializer
        )


class DatasetUploadInputSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
    course = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class UploadCreateApi(APIView):
    permission_classes = [IsAdminRole]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": DatasetUploadInputSerializer},
        responses={202: JobOutputSerializer},
        summary="Upload transcripts, metadata and comments (zips too); imported by a background job",
    )
    def post(self, request: Request) -> Response:
        data = DatasetUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        files = [(f.name, f) for f in data.validated_data["files"]]
        job = upload_start(user=request.user, files=files, course_code=data.validated_data["course"].strip())
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LectureCommentOutputSerializer(serializers.ModelSerializer[Comment]):
    video_id = serializers.CharField(source="lecture.video_id")
    passage = serializers.IntegerField(source="passage.position", allow_null=True, default=None)

    class Meta:
        model = Comment
        fields = (
            "id",
            "video_id",
            "external_id",
            "text",
            "categories",
            "scores",
            "provenance",
            "passage",
            "link_method",
            "link_score",
        )


class CommentLabelApi(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("category", str, OpenApiParameter.PATH, enum=list(CATEGORIES))],
        responses=LectureCommentOutputSerializer,
        summary="Flip one label of a comment (a correction the classifier learns from)",
    )
    def post(self, request: Request, comment_id: int, category: str) -> Response:
        comment = selectors.comment_get(comment_id=comment_id)
        return Response(
            LectureCommentOutputSerializer(
                comment_label_toggle(comment=comment, category=category, user=request.user)
            ).data
        )


class LectureCourseOutputSerializer(serializers.ModelSerializer[LectureCourse]):
    lecture_count = serializers.IntegerField()
    comment_count = serializers.IntegerField()

    class Meta:
        model = LectureCourse
        fields = ("code", "title", "lecture_count", "comment_count")


class CourseListApi(APIView):
    permission_classes = [IsAdminRole]
    pagination_class = StandardPagination  # the schema shows the page wrapper

    @extend_schema(responses=LectureCourseOutputSerializer(many=True), summary="Courses with uploaded lectures")
    def get(self, request: Request) -> Response:
        return paginated_response(self, request, selectors.course_list(), LectureCourseOutputSerializer)
