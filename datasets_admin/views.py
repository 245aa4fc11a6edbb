"""Pages of the data sets app (admins only): uploads, courses and lectures with where students were
confused, the comment classifier with one-click corrections, and the data set registry."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.permissions import role_required
from core.errors import ApplicationError
from core.http import HtmxHttpRequest
from datasets_admin import selectors
from datasets_admin.models import CATEGORIES, CATEGORY_LABELS
from datasets_admin.parsers import (
    COMMENT_EXTENSIONS,
    MAX_EXPANDED_BYTES,
    MAX_FILE_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_ZIP_MEMBERS,
    TRANSCRIPT_EXTENSIONS,
)
from datasets_admin.services import (
    MAX_FILES_PER_UPLOAD,
    classifier_training_start,
    comment_label_toggle,
    dataset_sync_from_apps,
    upload_start,
)
from datasets_admin.uploads import SizeLimitUploadHandler

# The whole request: a few files at the per-file limit. Past it, nothing is read at all.
MAX_REQUEST_BYTES = 4 * MAX_UPLOAD_BYTES


def _mb(size: int) -> int:
    return size // 2**20


@role_required(Role.ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "datasets_admin/index.html",
        {
            "datasets": selectors.dataset_list(),
            "courses": selectors.course_list(),
            "uploads": selectors.upload_jobs_recent(),
            "summary": selectors.classifier_summary(),
        },
    )


def _upload_context(**extra: Any) -> dict[str, Any]:
    return {
        "limit_file_mb": _mb(MAX_FILE_BYTES),
        "limit_upload_mb": _mb(MAX_UPLOAD_BYTES),
        "limit_expanded_mb": _mb(MAX_EXPANDED_BYTES),
        "limit_request_mb": _mb(MAX_REQUEST_BYTES),
        "limit_members": MAX_ZIP_MEMBERS,
        "limit_files": MAX_FILES_PER_UPLOAD,
        "transcript_extensions": ", ".join(TRANSCRIPT_EXTENSIONS),
        "comment_extensions": ", ".join(COMMENT_EXTENSIONS),
        "courses": selectors.course_list(),
        **extra,
    }


@csrf_exempt  # the size-limiting handler must be installed before the body is read; CSRF is checked below
@role_required(Role.ADMIN)
def upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "datasets_admin/upload.html", _upload_context())
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REQUEST_BYTES:
        # Refused before reading a byte of the body: a 2 GB post costs the server nothing.
        return render(
            request,
            "datasets_admin/upload.html",
            _upload_context(
                error=f"The upload is {_mb(length):,} MB; at most {_mb(MAX_REQUEST_BYTES)} MB go in one upload "
                f"(and {_mb(MAX_UPLOAD_BYTES)} MB per file). Nothing was stored."
            ),
            status=413,
        )
    handler = SizeLimitUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return _upload_post(request, handler)


@csrf_protect
def _upload_post(request: HttpRequest, handler: SizeLimitUploadHandler) -> HttpResponse:
    files = [(str(f.name), f) for f in request.FILES.getlist("files")]
    try:
        job = upload_start(
            user=request.user, files=files, course_code=request.POST.get("course", "").strip(), refused=handler.refused
        )
    except ApplicationError as error:
        return render(
            request, "datasets_admin/upload.html", _upload_context(error=error.message), status=error.status_code
        )
    return redirect("datasets_admin:upload_detail", job_id=job.pk)


@role_required(Role.ADMIN)
def upload_detail(request: HtmxHttpRequest, job_id: str) -> HttpResponse:
    try:
        job = selectors.upload_job_get(job_id=job_id)
    except ApplicationError as error:
        raise Http404(error.message) from error
    template = (
        "datasets_admin/upload_detail.html#upload-status" if request.htmx else "datasets_admin/upload_detail.html"
    )
    return render(request, template, {"job": job, "result": job.result or {}})


@role_required(Role.ADMIN)
def course_detail(request: HttpRequest, code: str) -> HttpResponse:
    try:
        course = selectors.course_get(code=code)
    except ApplicationError as error:
        raise Http404(error.message) from error
    rows = selectors.course_lectures(course=course)
    ranked = sorted(rows, key=lambda r: (-r["confused"], r["lecture"].title))
    return render(
        request,
        "datasets_admin/course.html",
        {
            "course": course,
            "rows": rows,
            "ranked": [r for r in ranked if r["confused"]][:10],
            "chart_data": selectors.course_chart_data(course=course),
            "trust": selectors.category_trust(),
        },
    )


@role_required(Role.ADMIN)
def lecture_detail(request: HttpRequest, lecture_id: int) -> HttpResponse:
    try:
        lecture = selectors.lecture_get(lecture_id=lecture_id)
    except ApplicationError as error:
        raise Http404(error.message) from error
    category = request.GET.get("category", "")
    if category and category not in CATEGORIES:
        return render(request, "error.html", {"message": f"Unknown category {category!r}."}, status=400)
    passages = selectors.lecture_passages(lecture=lecture)
    comments = Paginator(selectors.lecture_comments(lecture=lecture, category=category), 50)
    page = comments.get_page(request.GET.get("page"))
    return render(
        request,
        "datasets_admin/lecture.html",
        {
            "lecture": lecture,
            "passages": passages,
            "confused_passages": sum(1 for p in passages if p["is_confused"]),
            "page": page,
            "category": category,
            "categories": [(c, CATEGORY_LABELS[c]) for c in CATEGORIES],
            "label_choices": list(selectors.category_trust().values()),
        },
    )


@require_POST
@role_required(Role.ADMIN)
def comment_label(request: HtmxHttpRequest, comment_id: int, category: str) -> HttpResponse:
    try:
        comment = selectors.comment_get(comment_id=comment_id)
        comment = comment_label_toggle(comment=comment, category=category, user=request.user)
    except ApplicationError as error:
        if error.status_code == 404:
            raise Http404(error.message) from error
        if request.htmx:
            return HttpResponse(error.message, status=error.status_code)
        messages.error(request, error.message)
        return redirect("datasets_admin:classifier")
    context = {
        "comment": comment,
        "label_choices": list(selectors.category_trust().values()),
    }
    if request.htmx:
        return render(request, "datasets_admin/partials/comment_labels.html", context)
    return redirect("datasets_admin:lecture_detail", lecture_id=comment.lecture_id)


@role_required(Role.ADMIN)
def classifier(request: HttpRequest) -> HttpResponse:
    category = request.GET.get("category", "")
    if category and category not in CATEGORIES:
        return render(request, "error.html", {"message": f"Unknown category {category!r}."}, status=400)
    comments = Paginator(selectors.comment_list(category=category), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "datasets_admin/classifier.html",
        {
            "summary": selectors.classifier_summary(),
            "page": comments,
            "category": category,
            "categories": [(c, CATEGORY_LABELS[c]) for c in CATEGORIES],
            "label_choices": list(selectors.category_trust().values()),
        },
    )


@require_POST
@role_required(Role.ADMIN)
def classifier_retrain(request: HttpRequest) -> HttpResponse:
    try:
        job = classifier_training_start(user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("datasets_admin:classifier")
    return redirect("core:job_detail", job_id=job.pk)


@role_required(Role.ADMIN)
def dataset_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        dataset = selectors.dataset_get(slug=slug)
        version = selectors.dataset_version_get(slug=slug, number=request.GET.get("version"))
    except ApplicationError as error:
        raise Http404(error.message) from error
    return render(
        request,
        "datasets_admin/dataset.html",
        {"dataset": dataset, "version": version, "versions": dataset.versions.order_by("-number")},
    )


@role_required(Role.ADMIN)
def dataset_export(request: HttpRequest, slug: str, number: int, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "jsonl"):
        raise Http404("Exports are .jsonl or .csv.")
    try:
        version = selectors.dataset_version_get(slug=slug, number=number)
    except ApplicationError as error:
        raise Http404(error.message) from error
    if fmt == "csv":
        lines = selectors.dataset_csv_lines(version=version)
        content_type = "text/csv; charset=utf-8"
    else:
        lines = selectors.dataset_jsonl_lines(version=version)
        content_type = "application/jsonl; charset=utf-8"
    response = StreamingHttpResponse(lines, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{version.dataset.slug}-v{version.number}.{fmt}"'
    return response  # type: ignore[return-value]  # streamed; role_required's signature names HttpResponse


@require_POST
@role_required(Role.ADMIN)
def dataset_sync(request: HttpRequest) -> HttpResponse:
    try:
        versions = dataset_sync_from_apps(user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{len(versions)} data sets of the other apps registered (a new version only where they changed)."
        )
    return redirect("datasets_admin:index")
