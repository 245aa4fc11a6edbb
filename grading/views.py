"""Pages of short-answer grading: students answer and read released grades; teachers grade, review and release.

Views parse input, call one service or selector, and render. Actions answer htmx with a fragment (the
grade's card, the review list, the job's progress) and plain form posts with a redirect.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.permissions import role_required, user_role
from accounts.selectors import course_student_list
from core.errors import ApplicationError, NotFoundError
from core.http import HtmxHttpRequest
from grading.exports import grades_csv_filename, grades_csv_write
from grading.forms import (
    AnswerForm,
    AnswersImportForm,
    GradeFeedbackForm,
    GradeGroupForm,
    GradeGroupRelabelForm,
    GradeOverrideForm,
    GradeReleaseForm,
    GradeRubricForm,
    QuestionForm,
    ReviewFilterForm,
)
from grading.importers import ImportProblems, answers_csv_import
from grading.models import Assignment, Grade, Label, Question, Submission
from grading.selectors import (
    assignment_chart_data,
    assignment_get_for_user,
    assignment_grade_counts,
    assignment_grading_job_active,
    assignment_list_for_user,
    attention_for_student,
    attention_for_teacher,
    grade_get_for_user,
    grade_list_for_group,
    grade_list_released_for_student,
    grade_queue_teaching_order,
    grade_review_groups,
    grader_is_quick_active,
    grader_problem,
    grader_sureness,
    grader_training_job_active,
    question_get_for_user,
    question_grade_count,
    submission_list_current_for_student,
)
from grading.services import (
    assignment_grading_start,
    grade_accept,
    grade_feedback_edit,
    grade_override,
    grade_rubric_set,
    grader_first_start,
    grader_training_start,
    grades_accept_many,
    grades_mark_seen,
    grades_relabel_many,
    grades_release,
    question_create,
    question_update,
    submission_create,
)

ALL_ROLES = (Role.STUDENT, Role.TEACHER, Role.ADMIN)
TEACHING_ROLES = (Role.TEACHER, Role.ADMIN)
REVIEW_PAGE_SIZE = 50


# --- Helpers ---------------------------------------------------------------------------------------


def _failure(request: HtmxHttpRequest, error: ApplicationError, *, fallback: str) -> HttpResponse:
    """htmx gets a 4xx fragment with the message (static/js/app.js shows it); a plain post, a redirect."""
    if request.htmx:
        return render(request, "grading/error_fragment.html", {"message": error.message}, status=error.status_code)
    messages.error(request, error.message)
    return redirect(fallback)


def _form_error(form: Any) -> ApplicationError:
    problems = [
        f"{form.fields[field].label or field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
        for field, errors in form.errors.items()
    ]
    return ApplicationError("; ".join(problems), extra={"fields": dict(form.errors)})


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _assignment_or_404(request: HttpRequest, assignment_id: int) -> Assignment:
    # Teachers see the assignments of the courses they teach, admins every one: others get a 404.
    try:
        return assignment_get_for_user(user=request.user, assignment_id=assignment_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _grade_or_404(request: HttpRequest, grade_id: int) -> Grade:
    try:
        return grade_get_for_user(user=request.user, grade_id=grade_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


# --- The index: teachers' assignments, students' questions and released grades ----------------------


@role_required(*ALL_ROLES)
def index(request: HttpRequest) -> HttpResponse:
    assignments = list(assignment_list_for_user(user=request.user))
    if user_role(request.user) == Role.STUDENT:
        context = _student_context(student=request.user, assignments=assignments)
        response = render(request, "grading/index.html", context)
        grades_mark_seen(student=request.user)  # after rendering: the page still marks them new this once
        return response
    counts = assignment_grade_counts(assignment_ids=[assignment.pk for assignment in assignments])
    rows = [{"assignment": assignment, **counts[assignment.pk]} for assignment in assignments]
    return render(request, "grading/index.html", {"rows": rows})


def _answer_item(
    question: Question, submission: Submission | None, grade: Grade | None, *, text: str | None = None
) -> dict[str, Any]:
    if text is None:
        text = submission.answer_text if submission else ""
    return {
        "question": question,
        "submission": submission,
        "grade": grade,
        "show_reference": not question.is_reference_hidden or grade is not None,
        "form": AnswerForm(initial={"answer": text}, prefix=f"q{question.pk}"),
    }


def _student_context(*, student: Any, assignments: list[Assignment]) -> dict[str, Any]:
    submissions = {
        submission.question_id: submission for submission in submission_list_current_for_student(student=student)
    }
    # Only released grades: a grade awaiting review is never shown to its student.
    released = {grade.submission.question_id: grade for grade in grade_list_released_for_student(student=student)}
    blocks = []
    for assignment in assignments:
        items = [
            _answer_item(question, submissions.get(question.pk), released.get(question.pk))
            for question in assignment.questions.all()
        ]
        graded = [item["grade"] for item in items if item["grade"] is not None]
        blocks.append(
            {
                "assignment": assignment,
                "items": items,
                "released_count": len(graded),
                "score": sum((grade.score for grade in graded), start=0),
                "max_points": sum((item["question"].max_points for item in items if item["grade"]), start=0),
            }
        )
    return {"blocks": blocks}


@role_required(Role.STUDENT)
@require_POST
def answer_submit(request: HtmxHttpRequest, question_id: int) -> HttpResponse:
    try:
        question = question_get_for_user(user=request.user, question_id=question_id)
    except NotFoundError as error:
        raise Http404(error.message) from error
    fallback = reverse("grading:index")
    form = AnswerForm(request.POST, prefix=f"q{question.pk}")
    form.is_valid()
    try:
        submission = submission_create(
            question=question, student=request.user, answer_text=form.cleaned_data.get("answer", "")
        )
    except ApplicationError as error:
        if not request.htmx or error.code not in ("answer_empty", "answer_too_long"):
            return _failure(request, error, fallback=fallback)
        # The message goes under the box, and the box keeps what the student wrote (422: app.js swaps it).
        current = submission_list_current_for_student(student=request.user).filter(question=question).first()
        item = _answer_item(question, current, None, text=form.cleaned_data.get("answer", ""))
        item["error"] = error.message
        return render(request, "grading/index.html#question-answer", {"item": item}, status=422)
    if not request.htmx:
        messages.success(request, f"Your answer to question {question.position} is saved.")
        return redirect(fallback)
    item = _answer_item(question, submission, None)
    return render(request, "grading/index.html#question-answer", {"item": item, "is_just_saved": True})


# --- The assignment page: grade all, release, retrain, charts, CSV ----------------------------------


@role_required(*TEACHING_ROLES)
def assignment_detail(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    return render(
        request,
        "grading/assignment_detail.html",
        {
            "assignment": assignment,
            "counts": assignment_grade_counts(assignment_ids=[assignment.pk])[assignment.pk],
            "chart_data": assignment_chart_data(assignment=assignment),
            "job": assignment_grading_job_active(assignment=assignment, user=request.user),
            **_grader_state(),
            "import_form": AnswersImportForm(),
            "release_form": GradeReleaseForm(assignment=assignment, auto_id="release_%s"),
        },
    )


def _grader_state() -> dict[str, Any]:
    return {
        "grader_problem": grader_problem(),
        "grader_job": grader_training_job_active(),
        "grader_is_quick": grader_is_quick_active(),
    }


@role_required(*TEACHING_ROLES)
def assignment_grader_state(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """The page polls this while the first grader is prepared; when it is ready, the page reloads."""
    assignment = _assignment_or_404(request, assignment_id)
    state = _grader_state()
    if request.htmx and not state["grader_problem"] and request.GET.get("waiting"):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "grading/assignment_detail.html#grader-state", {"assignment": assignment, **state})


@role_required(Role.ADMIN)
@require_POST
def grader_first(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """An admin prepares the first grader from the assignment page (no command to run)."""
    assignment = _assignment_or_404(request, assignment_id)
    fallback = reverse("grading:assignment_detail", args=[assignment.pk])
    try:
        grader_first_start(user=request.user, grade_assignment_ids=[assignment.pk])
    except ApplicationError as error:
        return _failure(request, error, fallback=fallback)
    messages.success(request, "Preparing the first grader: this page shows its progress.")
    return redirect(fallback)


@role_required(*TEACHING_ROLES)
@require_POST
def assignment_grade(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    fallback = reverse("grading:assignment_detail", args=[assignment.pk])
    try:
        job = assignment_grading_start(assignment=assignment, user=request.user)
    except ApplicationError as error:
        return _failure(request, error, fallback=fallback)
    if request.htmx:
        return render(request, "core/job_detail.html#job-status", {"job": job})
    return redirect("core:job_detail", job_id=job.pk)


@role_required(*TEACHING_ROLES)
@require_POST
def assignment_release_view(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    target = _next_url(request, reverse("grading:assignment_detail", args=[assignment.pk]))
    form = GradeReleaseForm(request.POST, assignment=assignment)
    if not form.is_valid():
        messages.error(request, _form_error(form).message)
        return redirect(target)
    question, student = form.cleaned_data["question"], form.cleaned_data["student"]
    try:
        released = grades_release(assignment=assignment, user=request.user, question=question, student=student)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(target)
    scope = ""
    if question is not None:
        scope += f" of Q{question.position}"
    if student is not None:
        scope += f" of {student.display_name}"
    if released:
        messages.success(request, f"Released {released} grade{'s' if released != 1 else ''}{scope} to students.")
    else:
        messages.warning(request, f"Nothing{scope} to release: accept or override grades in the review queue first.")
    return redirect(target)


@role_required(*ALL_ROLES)
def attention(request: HttpRequest) -> HttpResponse:
    """The dashboard's "needs you" fragment: grades awaiting review, or a student's new grades and open questions."""
    if user_role(request.user) == Role.STUDENT:
        items = attention_for_student(student=request.user)
    else:
        items = attention_for_teacher(user=request.user)
    response = render(request, "grading/attention.html", {"items": items})
    patch_vary_headers(response, ["HX-Request"])
    return response


# The grader serves every course of the school: only admins retrain it (issue 16).
@role_required(Role.ADMIN)
@require_POST
def grader_retrain(request: HttpRequest) -> HttpResponse:
    try:
        job = grader_training_start(user=request.user, title="Retrain the grader")
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(_next_url(request, reverse("grading:index")))
    return redirect("core:job_detail", job_id=job.pk)


@role_required(*TEACHING_ROLES)
def assignment_export(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{grades_csv_filename(assignment=assignment)}"'
    grades_csv_write(assignment=assignment, stream=response)
    return response


@role_required(*TEACHING_ROLES)
def assignment_import(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    form = AnswersImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"assignment": assignment, "form": form, "problems": []}
    if request.method != "POST":
        return render(request, "grading/import.html", context)
    if not form.is_valid():
        return render(request, "grading/import.html", context, status=400)
    try:
        count = answers_csv_import(assignment=assignment, file=form.cleaned_data["file"], user=request.user)
    except ImportProblems as error:
        context.update(problems=error.problems, problems_more=error.problems_more, problem_count=error.problem_count)
        return render(request, "grading/import.html", context, status=400)
    except ApplicationError as error:
        context["problems"] = [error.message]
        return render(request, "grading/import.html", context, status=error.status_code)
    messages.success(request, f"Imported {count} answer{'s' if count != 1 else ''}.")
    return redirect("grading:assignment_detail", assignment_id=assignment.pk)


# --- A question's page: add one to an assignment, edit one --------------------------------------------


def _question_or_404(request: HttpRequest, question_id: int) -> Question:
    # The view is for teaching roles, so the selector gives teachers their courses' questions and admins all.
    try:
        return question_get_for_user(user=request.user, question_id=question_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


def _question_page(
    request: HttpRequest, *, assignment: Assignment, form: QuestionForm, question: Question | None, status: int = 200
) -> HttpResponse:
    context = {
        "assignment": assignment,
        "form": form,
        "question": question,
        "grade_count": question_grade_count(question=question) if question is not None else 0,
    }
    return render(request, "grading/question_form.html", context, status=status)


@role_required(*TEACHING_ROLES)
def question_add(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    if request.method != "POST":
        return _question_page(request, assignment=assignment, form=QuestionForm(), question=None)
    form = QuestionForm(request.POST)
    if not form.is_valid():
        return _question_page(request, assignment=assignment, form=form, question=None, status=400)
    try:
        question = question_create(assignment=assignment, **form.service_kwargs())
    except ApplicationError as error:
        form.add_service_errors(error)
        return _question_page(request, assignment=assignment, form=form, question=None, status=error.status_code)
    messages.success(request, f"Added question {question.position}.")
    return redirect(reverse("grading:assignment_detail", args=[assignment.pk]) + f"#question-{question.pk}")


@role_required(*TEACHING_ROLES)
def question_edit(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question_or_404(request, question_id)
    assignment = question.assignment
    if request.method != "POST":
        return _question_page(request, assignment=assignment, form=QuestionForm(question=question), question=question)
    form = QuestionForm(request.POST, question=question)
    if not form.is_valid():
        return _question_page(request, assignment=assignment, form=form, question=question, status=400)
    try:
        question = question_update(question=question, **form.service_kwargs())
    except ApplicationError as error:
        form.add_service_errors(error)
        return _question_page(request, assignment=assignment, form=form, question=question, status=error.status_code)
    messages.success(request, f"Saved question {question.position}.")
    return redirect(reverse("grading:assignment_detail", args=[assignment.pk]) + f"#question-{question.pk}")


# --- The review queue -------------------------------------------------------------------------------


def _review_context(assignment: Assignment, data: Any) -> dict[str, Any]:
    questions = list(assignment.questions.all())
    form = ReviewFilterForm(data, questions=questions, students=list(course_student_list(course=assignment.course)))
    page = Paginator(grade_queue_teaching_order(assignment=assignment, **form.filters()), REVIEW_PAGE_SIZE).get_page(
        data.get("page")
    )
    grades = list(page.object_list)
    groups = grade_review_groups(grades=grades)
    query = data.copy()
    query.pop("page", None)
    return {
        "assignment": assignment,
        "filter_form": form,
        "page": page,
        "query": query.urlencode(),
        "cards": [{"grade": grade, "group": groups.group_of.get(grade.pk)} for grade in grades],
        "groups": groups.groups,
        "groups_problem": groups.problem,
        "labels": Label.choices,
        "sureness": grader_sureness(assignment=assignment),
    }


def _render_review(
    request: HtmxHttpRequest, assignment: Assignment, data: Any, *, partial: bool, notice: str = ""
) -> HttpResponse:
    template = "grading/review.html#review-list" if partial else "grading/review.html"
    response = render(request, template, {**_review_context(assignment, data), "notice": notice})
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@role_required(*TEACHING_ROLES)
def review(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """The full page, or just the list when the filter form asks for it through htmx."""
    assignment = _assignment_or_404(request, assignment_id)
    partial = bool(request.htmx) and request.htmx.target == "review-list"
    return _render_review(request, assignment, request.GET, partial=partial)


def _card(request: HtmxHttpRequest, grade: Grade) -> HttpResponse:
    if not request.htmx:
        return redirect("grading:review", assignment_id=grade.submission.question.assignment_id)
    try:
        group: int | None = int(request.POST.get("group", ""))
    except ValueError:
        group = None
    fresh = grade_get_for_user(user=request.user, grade_id=grade.pk)
    return render(
        request, "grading/review.html#grade-card", {"card": {"grade": fresh, "group": group}, "labels": Label.choices}
    )


@role_required(*TEACHING_ROLES)
@require_POST
def grade_rubric_view(request: HtmxHttpRequest, grade_id: int) -> HttpResponse:
    grade = _grade_or_404(request, grade_id)
    form = GradeRubricForm(request.POST, item_count=len(grade.submission.question.rubric or []))
    if not form.is_valid():
        return _failure(request, _form_error(form), fallback=_review_url(grade))
    try:
        grade = grade_rubric_set(grade=grade, user=request.user, met=form.cleaned_data["met"])
    except ApplicationError as error:
        return _failure(request, error, fallback=_review_url(grade))
    return _card(request, grade)


def _review_url(grade: Grade) -> str:
    return reverse("grading:review", args=[grade.submission.question.assignment_id])


@role_required(*TEACHING_ROLES)
@require_POST
def grade_accept_view(request: HtmxHttpRequest, grade_id: int) -> HttpResponse:
    grade = _grade_or_404(request, grade_id)
    try:
        grade = grade_accept(grade=grade, user=request.user)
    except ApplicationError as error:
        return _failure(request, error, fallback=_review_url(grade))
    return _card(request, grade)


@role_required(*TEACHING_ROLES)
@require_POST
def grade_override_view(request: HtmxHttpRequest, grade_id: int) -> HttpResponse:
    grade = _grade_or_404(request, grade_id)
    form = GradeOverrideForm(request.POST)
    if not form.is_valid():
        return _failure(request, _form_error(form), fallback=_review_url(grade))
    # The card's override form has no feedback field: an absent field keeps the feedback as it is.
    feedback = form.cleaned_data["feedback"] if "feedback" in request.POST else None
    try:
        grade = grade_override(
            grade=grade,
            user=request.user,
            label=form.cleaned_data["label"],
            score=form.cleaned_data["score"],
            feedback=feedback,
        )
    except ApplicationError as error:
        return _failure(request, error, fallback=_review_url(grade))
    return _card(request, grade)


@role_required(*TEACHING_ROLES)
@require_POST
def grade_feedback_view(request: HtmxHttpRequest, grade_id: int) -> HttpResponse:
    grade = _grade_or_404(request, grade_id)
    form = GradeFeedbackForm(request.POST)
    form.is_valid()
    try:
        grade = grade_feedback_edit(
            grade=grade,
            user=request.user,
            feedback=form.cleaned_data.get("feedback", ""),
            approve=request.POST.get("approve") == "1",
        )
    except ApplicationError as error:
        return _failure(request, error, fallback=_review_url(grade))
    return _card(request, grade)


def _group_action(request: HtmxHttpRequest, assignment_id: int, *, relabel: bool) -> HttpResponse:
    assignment = _assignment_or_404(request, assignment_id)
    fallback = reverse("grading:review", args=[assignment.pk])
    form = GradeGroupRelabelForm(request.POST) if relabel else GradeGroupForm(request.POST)
    if not form.is_valid():
        return _failure(request, _form_error(form), fallback=fallback)
    try:
        grades = grade_list_for_group(assignment=assignment, grade_ids=form.cleaned_data["grade"])
        if relabel:
            count = grades_relabel_many(grades=grades, user=request.user, label=form.cleaned_data["label"])
        else:
            count = grades_accept_many(grades=grades, user=request.user)
    except ApplicationError as error:
        return _failure(request, error, fallback=fallback)
    done = "relabelled" if relabel else "accepted"
    notice = f"{count} similar answer{'s' if count != 1 else ''} {done}."
    if not request.htmx:
        messages.success(request, notice)
        return redirect(fallback)
    # The list is drawn again with the filters it was showing (posted as its query string).
    filters = QueryDict(request.POST.get("filters", ""))
    return _render_review(request, assignment, filters, partial=True, notice=notice)


@role_required(*TEACHING_ROLES)
@require_POST
def group_accept(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    return _group_action(request, assignment_id, relabel=False)


@role_required(*TEACHING_ROLES)
@require_POST
def group_relabel(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    return _group_action(request, assignment_id, relabel=True)
