"""Pages of the tutor: students chat with it, teachers manage problems and read every session.

Views parse input, call one service or selector, and render. htmx posts get a fragment of the same
template (`template.html#partial`) and errors as a 4xx fragment; plain form posts get a redirect.
The reply stream is an async view: under ASGI it streams from an async iterator, under WSGI (the
test server) from a sync one, since Django would otherwise buffer the whole stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Course, Role
from accounts.permissions import course_is_taught_by, role_required, user_role
from core.errors import ApplicationError, NotFoundError, PermissionDeniedError
from core.http import HtmxHttpRequest, job_start_redirect
from tutor.importers import FORMATS
from tutor.models import Turn, TutorSession, TutorSettings
from tutor.replies import ReplyEvents, reply_stream_response
from tutor.selectors import (
    better_reply_count,
    course_list_for_tutor,
    problem_get_for_user,
    problem_list_for_user,
    session_export_rows,
    session_figures,
    session_get_for_user,
    session_list_for_user,
    training_pair_rows,
    turn_flagged_waiting_count,
    turn_get_for_user,
)
from tutor.services import (
    MAX_MESSAGE_CHARS,
    problem_assign_set,
    problems_import,
    session_abandon,
    session_start,
    turn_flag,
    turn_student_create,
    tutor_settings_update,
)

TEACHING = (Role.TEACHER, Role.ADMIN)
EVERYONE = (Role.STUDENT, Role.TEACHER, Role.ADMIN)


class ProblemImportForm(forms.Form):
    file = forms.FileField()
    file_format = forms.ChoiceField(
        choices=[(name, name) for name in FORMATS], initial="auto", label="Layout", required=False
    )
    is_assigned = forms.BooleanField(required=False, label="Assign the new problems to students")


class TutorSettingsForm(forms.Form):
    attempts_before_telling = forms.IntegerField(min_value=1, max_value=20)
    allows_step_hints = forms.BooleanField(required=False)


class SessionFilterForm(forms.Form):
    """The session list's query: ids only, so "?problem=abc" is a clear 400, not a database error."""

    course = forms.IntegerField(required=False, min_value=1)
    problem = forms.IntegerField(required=False, min_value=1)
    student = forms.IntegerField(required=False, min_value=1)


class FlagForm(forms.Form):
    is_flagged = forms.BooleanField(required=False)
    better_reply = forms.CharField(required=False, max_length=MAX_MESSAGE_CHARS, widget=forms.Textarea)


def _error_fragment(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return render(request, "tutor/error_fragment.html", {"message": error.message}, status=error.status_code)


def _failed(request: HtmxHttpRequest, error: ApplicationError, *, back: str) -> HttpResponse:
    """An htmx post gets the message as a 4xx fragment; a plain post a 404/403 page or a redirect."""
    if request.htmx:
        return _error_fragment(request, error)
    if isinstance(error, NotFoundError):
        raise Http404(error.message) from error
    if isinstance(error, PermissionDeniedError):
        raise PermissionDenied(error.message) from error
    messages.error(request, error.message)
    return redirect(back)


def _taught_course(request: HttpRequest, course_id: int) -> Course:
    course = course_list_for_tutor(user=request.user).filter(pk=course_id).first()
    if course is None:
        raise Http404("No such course, or it is not one of yours.")
    if not course_is_taught_by(course=course, user=request.user):
        raise PermissionDenied("Only the course's teachers and admins may change it.")
    return course


# --- the problem bank and the student's start page ---------------------------------------------
@role_required(*EVERYONE)
def index(request: HttpRequest) -> HttpResponse:
    problems = list(problem_list_for_user(user=request.user))
    if user_role(request.user) == Role.STUDENT:
        open_sessions = {
            session.problem_id: session
            for session in session_list_for_user(user=request.user).filter(status=TutorSession.Status.OPEN)
        }
        solved_sessions = {
            session.problem_id: session
            for session in session_list_for_user(user=request.user)
            .filter(status__in=[TutorSession.Status.SOLVED, TutorSession.Status.SOLVED_AFTER_REVEAL])
            .order_by("started_at")
        }
        recent = session_list_for_user(user=request.user)[:10]
        rows = [
            {"problem": problem, "session": open_sessions.get(problem.pk), "solved": solved_sessions.get(problem.pk)}
            for problem in problems
        ]
        return render(request, "tutor/index.html", {"rows": rows, "problems": problems, "recent": recent})
    courses = list(course_list_for_tutor(user=request.user))
    settings_by_course = {row.course_id: row for row in TutorSettings.objects.filter(course__in=courses)}
    course_rows = [
        {
            "course": course,
            "problems": [problem for problem in problems if problem.course_id == course.pk],
            "settings": settings_by_course.get(course.pk) or TutorSettings(course=course),
            "can_edit": course_is_taught_by(course=course, user=request.user),
        }
        for course in courses
    ]
    return render(
        request,
        "tutor/index.html",
        {"course_rows": course_rows, "problems": problems},
    )


@role_required(*TEACHING)
@require_POST
def problem_assign(request: HtmxHttpRequest, problem_id: int) -> HttpResponse:
    try:
        problem = problem_get_for_user(user=request.user, problem_id=problem_id)
        problem = problem_assign_set(
            problem=problem, is_assigned=request.POST.get("is_assigned") == "1", user=request.user
        )
    except ApplicationError as error:
        return _failed(request, error, back=reverse("tutor:index"))
    if request.htmx:
        return render(request, "tutor/index.html#problem-row", {"problem": problem, "can_edit": True})
    return redirect("tutor:index")


@role_required(*TEACHING)
@require_POST
def problem_import(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _taught_course(request, course_id)
    form = ProblemImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV or JSON file of problems to import.")
        return redirect("tutor:index")
    upload = form.cleaned_data["file"]
    try:
        report = problems_import(
            course=course,
            data=upload.read(),
            filename=upload.name,
            file_format=form.cleaned_data["file_format"] or "auto",
            is_assigned=form.cleaned_data["is_assigned"],
            user=request.user,
        )
    except ApplicationError as error:
        messages.error(request, f"Nothing was imported. {error.message}")
        return redirect("tutor:index")
    skipped = f" ({report.skipped} already in the bank)" if report.skipped else ""
    messages.success(request, f"Imported {report.created} problem{'s' if report.created != 1 else ''}{skipped}.")
    return redirect("tutor:index")


@role_required(*TEACHING)
@require_POST
def course_settings(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _taught_course(request, course_id)
    form = TutorSettingsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Attempts before telling must be a whole number from 1 to 20.")
        return redirect("tutor:index")
    attempts = form.cleaned_data["attempts_before_telling"]
    row = tutor_settings_update(
        course=course,
        attempts_before_telling=attempts,
        allows_step_hints=form.cleaned_data["allows_step_hints"],
        user=request.user,
    )
    if row.allows_step_hints:
        told = (
            f"step hints after {attempts} attempt{'s' if attempts != 1 else ''}, the last step's calculation "
            f"after {2 * attempts}; never the final answer"
        )
    else:
        told = "no step hints and never the final answer"
    messages.success(request, f"{course.name}: the tutor gives {told}.")
    return redirect("tutor:index")


# --- sessions -------------------------------------------------------------------------------------
@role_required(Role.STUDENT)
@require_POST
def session_create(request: HttpRequest, problem_id: int) -> HttpResponse:
    try:
        problem = problem_get_for_user(user=request.user, problem_id=problem_id)
        session, _ = session_start(student=request.user, problem=problem)
    except NotFoundError as error:
        raise Http404(error.message) from error
    return redirect("tutor:session", session_id=session.pk)


def _session_context(request: HttpRequest, session: TutorSession) -> dict[str, Any]:
    turns = list(session.turns.all())
    return {
        "session": session,
        "turns": turns,
        "is_waiting": any(not turn.is_complete for turn in turns),
        "is_owner": session.student_id == request.user.pk,
        "max_chars": MAX_MESSAGE_CHARS,
    }


@role_required(*EVERYONE)
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    try:
        session = session_get_for_user(user=request.user, session_id=session_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    return render(request, "tutor/session.html", _session_context(request, session))


@role_required(Role.STUDENT)
@require_POST
def message_send(request: HtmxHttpRequest, session_id: int) -> HttpResponse:
    try:
        session = session_get_for_user(user=request.user, session_id=session_id)
        student_turn, reply = turn_student_create(
            session=session, student=request.user, text=request.POST.get("text", "")
        )
    except ApplicationError as error:
        return _failed(request, error, back=reverse("tutor:session", args=[session_id]))
    if not request.htmx:
        return redirect("tutor:session", session_id=session.pk)
    session.refresh_from_db()
    context = {
        "session": session,
        "new_turns": [student_turn, reply],
        "is_first": not session.turns.exclude(pk__in=[student_turn.pk, reply.pk]).exists(),
        "is_waiting": True,
        "is_owner": True,
        "max_chars": MAX_MESSAGE_CHARS,
    }
    return render(request, "tutor/session.html#posted", context)


@role_required(Role.STUDENT)
@require_POST
def session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    try:
        session = session_get_for_user(user=request.user, session_id=session_id)
        session_abandon(session=session, student=request.user)
    except NotFoundError as error:
        raise Http404(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("tutor:session", session_id=session_id)


def _render_done(turn: Turn, *, viewer_id: int, csrf_token: str) -> str:
    """The final reply and what changed around it (status, the message box), swapped in by htmx."""
    session = TutorSession.objects.select_related("problem").get(pk=turn.session_id)
    context = {
        "csrf_token": csrf_token,  # the message box's plain-form fallbacks post with it
        "turn": turn,
        "session": session,
        "is_waiting": False,
        "is_owner": session.student_id == viewer_id,
        "max_chars": MAX_MESSAGE_CHARS,
        "user_role": "student" if session.student_id == viewer_id else "teacher",
    }
    return render_to_string("tutor/session.html#done", context)


def _stream_start(request: HttpRequest) -> str | None:
    return request.headers.get("Last-Event-ID") or request.GET.get("offset")


@require_GET
async def turn_stream(request: HttpRequest, turn_id: int) -> StreamingHttpResponse:
    """The tutor's reply as it is written (server-sent events: `piece`, then `done`)."""
    user = await request.auser()
    if not user_role(user):
        raise Http404("No such reply.")
    try:
        turn = await sync_to_async(turn_get_for_user)(user=user, turn_id=turn_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    if turn.speaker != Turn.Speaker.TUTOR:
        raise Http404("Only the tutor's replies stream.")
    viewer_id = user.pk or 0  # signed in: role checked above
    csrf_token = get_token(request)
    events = ReplyEvents(
        turn_id=turn.pk,
        render_done=lambda done: _render_done(done, viewer_id=viewer_id, csrf_token=csrf_token),
        last_event_id=_stream_start(request),
        turn=turn,
    )
    return reply_stream_response(request, events)


# --- teachers ---------------------------------------------------------------------------------------
@role_required(*TEACHING)
@require_POST
def turn_flag_view(request: HtmxHttpRequest, turn_id: int) -> HttpResponse:
    form = FlagForm(request.POST)
    try:
        turn = turn_get_for_user(user=request.user, turn_id=turn_id)
        if not form.is_valid():
            raise ApplicationError("Keep the better reply under 2,000 characters.")
        turn = turn_flag(
            turn=turn,
            teacher=request.user,
            is_flagged=form.cleaned_data["is_flagged"],
            better_reply=form.cleaned_data["better_reply"],
        )
    except ApplicationError as error:
        return _failed(request, error, back=reverse("tutor:index"))
    if request.htmx:
        return render(request, "tutor/session.html#turn", {"turn": turn, "user_role": user_role(request.user)})
    return redirect("tutor:session", session_id=turn.session_id)


def _course_filter(request: HttpRequest) -> tuple[list[Course], Course | None]:
    courses = list(course_list_for_tutor(user=request.user))
    selected = next((course for course in courses if str(course.pk) == request.GET.get("course")), None)
    return courses, selected


@role_required(*TEACHING)
def dashboard(request: HttpRequest) -> HttpResponse:
    courses, course = _course_filter(request)
    figures = session_figures(user=request.user, course_id=course.pk if course else None)
    context: dict[str, Any] = {"courses": courses, "course": course, "figures": figures}
    if user_role(request.user) == Role.ADMIN:
        context["better_replies"] = better_reply_count()
    return render(request, "tutor/dashboard.html", context)


@role_required(Role.ADMIN)
@require_POST
def model_train(request: HttpRequest) -> HttpResponse:
    """Admins: fine-tune the tutor's model on teachers' better replies, in the background."""
    from tutor.tasks import tutor_model_train_task

    return job_start_redirect(
        request,
        failure_url=reverse("tutor:dashboard"),
        kind="tutor.model_train",
        title="Train the tutor's model on teachers' better replies",
        task=tutor_model_train_task,
        unique_key="tutor.model_train",
    )


def _filter_message(form: forms.Form) -> str:
    names = ", ".join(f"“{name}”" for name in form.errors)
    return f"Filter the sessions by a course, problem or student id (a whole number): {names} is not one."


@role_required(*EVERYONE)
def session_list(request: HttpRequest) -> HttpResponse:
    courses, course = _course_filter(request)
    form = SessionFilterForm(request.GET)
    if not form.is_valid():
        context = {"courses": courses, "course": None, "page": None, "filter_error": _filter_message(form)}
        return render(request, "tutor/sessions.html", context, status=400)
    sessions = session_list_for_user(
        user=request.user,
        course_id=course.pk if course else None,
        problem_id=form.cleaned_data["problem"],
        student_id=form.cleaned_data["student"],
    )
    page = Paginator(sessions, 25).get_page(request.GET.get("page"))
    return render(request, "tutor/sessions.html", {"courses": courses, "course": course, "page": page})


def _jsonl_response(rows: Iterator[dict[str, Any]], filename: str) -> HttpResponse:
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    response = HttpResponse(body, content_type="application/jsonl; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(*TEACHING)
def export_sessions(request: HttpRequest) -> HttpResponse:
    """Every session of the teacher's courses in the MathDial layout, one JSON object a line."""
    _, course = _course_filter(request)
    rows = session_export_rows(user=request.user, course_id=course.pk if course else None)
    return _jsonl_response(rows, "tutor-sessions.jsonl")


@role_required(*TEACHING)
def export_training(request: HttpRequest) -> HttpResponse:
    """Flagged tutor replies with the teachers' better replies: training pairs."""
    _, course = _course_filter(request)
    rows = training_pair_rows(user=request.user, course_id=course.pk if course else None)
    return _jsonl_response(rows, "tutor-better-replies.jsonl")


@role_required(*TEACHING)
def attention(request: HttpRequest) -> HttpResponse:
    """The dashboard's fragment: flagged tutor replies waiting for a teacher's better reply."""
    count = turn_flagged_waiting_count(user=request.user)
    return render(request, "tutor/attention.html", {"flagged_count": count})
