from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasAnyRole, IsAdminRole
from core.errors import NotFoundError
from core.models import Job
from core.selectors import job_list_for_user
from core.services import job_cancel, job_create
from core.tasks import system_check_task


class JobOutputSerializer(serializers.ModelSerializer[Job]):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = Job
        fields = (
            "id",
            "kind",
            "title",
            "status",
            "progress",
            "total",
            "percent",
            "message",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        )


def _job_for(request: Request, job_id: str) -> Job:
    try:
        return job_list_for_user(user=request.user).get(pk=job_id)
    except (Job.DoesNotExist, ValueError) as error:
        raise NotFoundError("No such job, or it is not one of yours.") from error


class JobDetailApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(responses=JobOutputSerializer, summary="A job's status, progress and result")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobOutputSerializer(_job_for(request, job_id)).data)


class JobCancelApi(APIView):
    permission_classes = [HasAnyRole]

    @extend_schema(request=None, responses=JobOutputSerializer, summary="Ask a job to stop")
    def post(self, request: Request, job_id: str) -> Response:
        return Response(JobOutputSerializer(job_cancel(job=_job_for(request, job_id))).data)


class SystemCheckCreateApi(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses={202: JobOutputSerializer}, summary="Check the worker end to end")
    def post(self, request: Request) -> Response:
        job = job_create(
            kind="system.check",
            title="Worker check",
            task=system_check_task,
            created_by=request.user,
            unique_key="system.check",
        )
        return Response(JobOutputSerializer(job).data, status=202)
