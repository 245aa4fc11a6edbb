"""Pages of reflection questions. Teachers write a question with the two-agent dialogue (a job the
page polls), edit, rate and save it to the course's bank, assign it and read the answers; students
answer the questions assigned to their courses. Views parse, call one service or selector, render."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.permissions import role_required
from accounts.selectors import course_get_for_user, course_list_for_user
from coaching.reflection.dialogue import DEFAULT_MAX_ROUNDS, MAX_ROUNDS_LIMIT, question_spec_build
from coaching.reflection.forms import AnswerForm, AssignForm, DialogueForm, QuestionSaveForm
from coaching.reflection.materials import materials_text_from_upload
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
from core.errors import ApplicationError, NotFoundError

TEACHING = (Role.TEACHER, Role.ADMIN)


def _default_due() -> str:
    return (timezone.localdate() + datetime.timedelta(days=7)).isoformat()


def _index_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "courses": course_list_for_user(user=request.user),
        "dialogues": dialogue_list_for_user(user=request.user)[:20],
        "max_rounds_limit": MAX_ROUNDS_LIMIT,
        "values": {"max_rounds": DEFAULT_MAX_ROUNDS},
        "errors": {},
    }
    context.update(extra)
    return context


@role_required(*TEACHING)
def index(request: HttpRequest) -> HttpResponse:
    """The form (GET) and starting a dialogue (POST). A refusal re-renders the form with the message
    beside the field, keeping what the teacher typed."""
    if request.method != "POST":
        return render(request, "coaching/reflection/index.html", _index_context(request))
    form = DialogueForm(request.POST, request.FILES)
    values = {
        key: request.POST.get(key, "") for key in ("course", "topic", "concepts", "level", "materials", "max_rounds")
    }
    try:
        if not form.is_valid():
            raise ApplicationError(
                "Check the form: "
                + "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items()),
                extra={"fields": {name: " ".join(map(str, errors)) for name, errors in form.errors.items()}},
            )
        course = course_get_for_user(user=request.user, course_id=form.cleaned_data["course"])
        materials = form.cleaned_data["materials"] or ""
        upload = form.cleaned_data["materials_file"]
        materials_name = ""
        if upload is not None:
            materials = materials_text_from_upload(name=upload.name, data=upload.read())
            materials_name = upload.name
        spec = question_spec_build(
            topic=form.cleaned_data["topic"] or "",
            concepts=form.cleaned_data["concepts"] or "",
            level=form.cleaned_data["level"] or "",
            materials=materials,
            max_rounds=form.cleaned_data["max_rounds"],
        )
        dialogue = dialogue_start(user=request.user, course=course, spec=spec, materials_name=materials_name)
    except ApplicationError as error:
        context = _index_context(request, values=values, errors=error.extra.get("fields", {}), error=error.message)
        return render(request, "coaching/reflection/index.html", context, status=error.status_code)
    return redirect("reflection:dialogue", dialogue_id=dialogue.pk)


def _dialogue_or_404(request: HttpRequest, dialogue_id: int) -> Any:
    try:
        return dialogue_get_for_user(user=request.user, dialogue_id=dialogue_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


@role_required(*TEACHING)
def dialogue_detail(request: HttpRequest, dialogue_id: int) -> HttpResponse:
    """The dialogue round by round; while it runs, htmx polls the `dialogue` partial."""
    dialogue = _dialogue_or_404(request, dialogue_id)
    saved = getattr(dialogue, "bank_question", None) if dialogue.is_finished else None
    context = {"dialogue": dialogue, "rounds": list(dialogue.rounds.all()), "saved": saved}
    template = "coaching/reflection/dialogue.html"
    if getattr(request, "htmx", False):
        template += "#dialogue"
    return render(request, template, context)


@role_required(*TEACHING)
@require_POST
def dialogue_save(request: HttpRequest, dialogue_id: int) -> HttpResponse:
    dialogue = _dialogue_or_404(request, dialogue_id)
    form = QuestionSaveForm(request.POST)
    form.is_valid()
    try:
        question = bank_question_save(
            user=request.user,
            dialogue=dialogue,
            text=form.cleaned_data.get("text", ""),
            rating=form.cleaned_data.get("rating"),
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("reflection:dialogue", dialogue_id=dialogue.pk)
    messages.success(request, "Saved to the course's question bank.")
    return redirect("reflection:bank_question", question_id=question.pk)


@role_required(*TEACHING)
def bank(request: HttpRequest) -> HttpResponse:
    course_id = request.GET.get("course") or None
    if course_id is not None and not str(course_id).isdigit():
        return render(
            request, "error.html", {"status": 400, "message": "The course filter is a course number."}, status=400
        )
    questions = bank_question_list_for_user(user=request.user, course_id=course_id)
    return render(
        request,
        "coaching/reflection/bank.html",
        {"questions": questions, "courses": course_list_for_user(user=request.user), "course_id": course_id},
    )


def _question_or_404(request: HttpRequest, question_id: int) -> Any:
    try:
        return bank_question_get_for_user(user=request.user, question_id=question_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


@role_required(*TEACHING)
def bank_question(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question_or_404(request, question_id)
    assignments = []
    for assignment in question.assignments.select_related("course").order_by("due_at"):
        assignments.append(
            {
                "assignment": assignment,
                "answers": list(answer_list_for_assignment(user=request.user, assignment=assignment)),
            }
        )
    return render(
        request,
        "coaching/reflection/bank_question.html",
        {"question": question, "assignments": assignments, "default_due": _default_due()},
    )


@role_required(*TEACHING)
@require_POST
def bank_question_edit(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question_or_404(request, question_id)
    form = QuestionSaveForm(request.POST)
    form.is_valid()
    try:
        bank_question_update(
            user=request.user,
            question=question,
            text=form.cleaned_data.get("text", ""),
            rating=form.cleaned_data.get("rating"),
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Question saved.")
    return redirect("reflection:bank_question", question_id=question.pk)


@role_required(*TEACHING)
@require_POST
def bank_question_assign(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question_or_404(request, question_id)
    form = AssignForm(request.POST)
    form.is_valid()
    try:
        assignment = question_assign(user=request.user, question=question, due_at=form.cleaned_data.get("due_at", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Assigned to {assignment.course.name}, due {assignment.due_at:%Y-%m-%d}.")
    return redirect("reflection:bank_question", question_id=question.pk)


@role_required(Role.STUDENT)
def assigned(request: HttpRequest) -> HttpResponse:
    assignments = assignment_list_for_user(user=request.user)
    template = "coaching/reflection/assigned.html"
    if getattr(request, "htmx", False) or request.GET.get("fragment"):
        template += "#assigned-list"
    return render(request, template, {"assignments": assignments, "now": timezone.now()})


@role_required(Role.STUDENT)
def assigned_answer(request: HttpRequest, assignment_id: int) -> HttpResponse:
    try:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    mine = getattr(assignment, "my_answers", [])  # prefetched for students by the selector
    answer = mine[0] if mine else None
    error_message = ""
    status = 200
    if request.method == "POST":
        form = AnswerForm(request.POST)
        form.is_valid()
        try:
            answer_submit(user=request.user, assignment=assignment, text=form.cleaned_data.get("text", ""))
        except ApplicationError as error:
            error_message, status = error.message, error.status_code
        else:
            messages.success(request, "Your answer is saved. Your teacher will read it.")
            return redirect("reflection:assigned_answer", assignment_id=assignment.pk)
    return render(
        request,
        "coaching/reflection/answer.html",
        {"assignment": assignment, "answer": answer, "error": error_message, "now": timezone.now(),
         "text": request.POST.get("text", answer.text if answer else "")},
        status=status,
    )  # fmt: skip


@role_required(*TEACHING)
@require_POST
def assignment_review(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """Send an assignment's answers to the grading review queue (through core.review_queue)."""
    try:
        assignment = assignment_get_for_user(user=request.user, assignment_id=assignment_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    try:
        handoff = answers_send_to_review(user=request.user, assignment=assignment)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        count = handoff["submissions"]
        messages.success(request, f"Sent {count} answer{'s' if count != 1 else ''} to the grading review queue.")
    return redirect("reflection:bank_question", question_id=assignment.question_id)
