"""Pages of classroom coaching: upload a transcript, confirm its speakers, read the report, see trends.

Views parse input, call one service or selector, and render. A transcript that is not the user's is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.permissions import role_required
from accounts.selectors import course_list_for_user
from coaching.analysis import MOVES
from coaching.forms import SpeakersForm, TranscriptUploadForm
from coaching.models import Transcript
from coaching.selectors import (
    dimensions_documented,
    report_chart_data,
    report_for,
    teacher_trends,
    transcript_get_for_user,
    transcript_list_for_user,
    transcript_utterances,
)
from coaching.services import transcript_delete, transcript_speakers_confirm, transcript_upload
from core.errors import ApplicationError, NotFoundError
from core.http import HtmxHttpRequest

TEACHING_ROLES = (Role.TEACHER, Role.ADMIN)


def _transcript_or_404(request: HttpRequest, transcript_id: int) -> Transcript:
    try:
        return transcript_get_for_user(user=request.user, transcript_id=transcript_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


@role_required(*TEACHING_ROLES)
def index(request: HttpRequest) -> HttpResponse:
    """The coaching home: upload a lesson, the teacher's transcripts, and (below) reflection questions."""
    form = TranscriptUploadForm()
    return _index(request, form)


def _index(request: HttpRequest, form: TranscriptUploadForm, *, status: int = 200) -> HttpResponse:
    transcripts = transcript_list_for_user(user=request.user)
    return render(
        request,
        "coaching/index.html",
        {
            "form": form,
            "transcripts": transcripts[:100],
            "courses": course_list_for_user(user=request.user),
        },
        status=status,
    )


@role_required(*TEACHING_ROLES)
@require_POST
def transcript_upload_view(request: HttpRequest) -> HttpResponse:
    form = TranscriptUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _index(request, form, status=400)
    upload = form.cleaned_data["file"]
    try:
        transcript = transcript_upload(
            teacher=request.user,
            data=upload.read(),
            filename=upload.name,
            title=form.cleaned_data["title"],
            lesson_date=form.cleaned_data["lesson_date"],
        )
    except ApplicationError as error:
        form.add_error("file", error.message)
        return _index(request, form, status=400)
    return redirect("coaching:transcript_speakers", transcript_id=transcript.pk)


@role_required(*TEACHING_ROLES)
def transcript_speakers(request: HttpRequest, transcript_id: int) -> HttpResponse:
    """Who is the teacher? Guessed first; the teacher confirms, then the analysis starts."""
    transcript = _transcript_or_404(request, transcript_id)
    if request.method == "POST":
        form = SpeakersForm(request.POST, speakers=transcript.speakers)
        if form.is_valid():
            try:
                transcript_speakers_confirm(
                    transcript=transcript, user=request.user, teacher_speakers=form.cleaned_data["teacher_speakers"]
                )
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                return redirect("coaching:transcript_detail", transcript_id=transcript.pk)
        status = 400
    else:
        form = SpeakersForm(speakers=transcript.speakers, initial={"teacher_speakers": transcript.teacher_speakers})
        status = 200
    preview = list(transcript_utterances(transcript=transcript)[:12])
    return render(
        request, "coaching/speakers.html", {"transcript": transcript, "form": form, "preview": preview}, status=status
    )


def _report_context(request: HttpRequest, transcript: Transcript) -> dict[str, object]:
    report = report_for(transcript=transcript)
    context: dict[str, object] = {"transcript": transcript, "report": report, "moves": MOVES}
    if report is not None:
        context.update(
            utterances=transcript_utterances(transcript=transcript),
            chart_data=report_chart_data(transcript=transcript, report=report),
            dimensions=dimensions_documented(),
        )
    return context


@role_required(*TEACHING_ROLES)
def transcript_detail(request: HtmxHttpRequest, transcript_id: int) -> HttpResponse:
    """The report; while the analysis runs, its progress (htmx polls the status partial)."""
    transcript = _transcript_or_404(request, transcript_id)
    if transcript.status == Transcript.Status.AWAITING_SPEAKERS:
        return redirect("coaching:transcript_speakers", transcript_id=transcript.pk)
    if request.htmx and request.GET.get("part") == "status":
        response = render(request, "coaching/report.html#analysis-status", {"transcript": transcript})
        if not transcript.is_busy:
            response["HX-Refresh"] = "true"
        patch_vary_headers(response, ["HX-Request"])
        return response
    response = render(request, "coaching/report.html", _report_context(request, transcript))
    patch_vary_headers(response, ["HX-Request"])
    return response


@role_required(*TEACHING_ROLES)
def transcript_print(request: HttpRequest, transcript_id: int) -> HttpResponse:
    transcript = _transcript_or_404(request, transcript_id)
    context = _report_context(request, transcript)
    if context["report"] is None:
        raise Http404("This transcript has no report yet.")
    return render(request, "coaching/print.html", context)


@role_required(*TEACHING_ROLES)
@require_POST
def transcript_delete_view(request: HttpRequest, transcript_id: int) -> HttpResponse:
    transcript = _transcript_or_404(request, transcript_id)
    try:
        transcript_delete(transcript=transcript, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("coaching:transcript_detail", transcript_id=transcript.pk)
    messages.success(request, f"“{transcript.title}” was deleted.")
    return redirect("coaching:index")


@role_required(*TEACHING_ROLES)
def trends(request: HttpRequest) -> HttpResponse:
    """The teacher's lessons over time: students' talk share, uptake, open questions, pressing for reasoning."""
    rows = teacher_trends(user=request.user)
    return render(
        request, "coaching/trends.html", {"rows": rows, "chart_rows": rows, "upload_url": reverse("coaching:index")}
    )
