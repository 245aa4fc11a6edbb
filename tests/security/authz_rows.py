"""The authorization matrix's rows: who may use each page and endpoint. ONE ROW PER URL NAME.

Adding a URL? Add its row here (tests/security/test_authorization_matrix.py fails and names the URL
until you do). A row says which identities are *allowed*; every other identity must be refused
(anonymous: a redirect to the login page, or 401/403 from the API; signed-in: 403 or 404), and a
refused write must change nothing in the database.

Identities: anonymous, student (enrolled in the course), other_student (enrolled in the other course),
teacher (teaches the course), other_teacher (teaches the other course), admin.

URL arguments come from the matrix's world (tests/security/authz_world.py) by name: `course_id` is the
course, `assignment_id` its assignment, `grade_id` the student's grade, `session_id` the student's tutor
session, `job_id` a job the teacher started, and so on. Give `kwargs` to a row to choose others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANONYMOUS, STUDENT, OTHER_STUDENT, TEACHER, OTHER_TEACHER, ADMIN = (
    "anonymous",
    "student",
    "other_student",
    "teacher",
    "other_teacher",
    "admin",
)
IDENTITIES = (ANONYMOUS, OTHER_STUDENT, OTHER_TEACHER, STUDENT, TEACHER, ADMIN)

# Who is allowed, by the usual shapes of a rule.
PUBLIC = frozenset(IDENTITIES)
SIGNED_IN = frozenset({STUDENT, OTHER_STUDENT, TEACHER, OTHER_TEACHER, ADMIN})
STUDENTS = frozenset({STUDENT, OTHER_STUDENT})
TEACHERS = frozenset({TEACHER, OTHER_TEACHER, ADMIN})  # every teacher (their own courses' data) and admins
COURSE = frozenset({STUDENT, TEACHER, ADMIN})  # an object of the course: its student, its teacher, admins
COURSE_TEACHER = frozenset({TEACHER, ADMIN})  # the course's teachers and admins
COURSE_STUDENT = frozenset({STUDENT})  # the student's own work in the course
JOB_OWNER = frozenset({TEACHER, ADMIN})  # the world's job was started by the teacher
ADMIN_ONLY = frozenset({ADMIN})


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    methods: tuple[str, ...] = ("GET",)
    # URL arguments from the world; None: each argument by its name (authz_world.World.url_kwargs).
    kwargs: Callable[[Any], dict[str, Any]] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # False: the allowed identities are not sent the request (it streams, calls a model, or starts a job
    # on the broker); the refusals are still checked. Their success is tested beside the feature.
    exercise_allowed: bool = True
    # True: the URL's object is a placeholder (not built by the world), so an allowed identity may get 404.
    placeholder: bool = False


def _write(allowed: frozenset[str], **options: Any) -> Row:
    return Row(allowed, methods=("POST",), **options)


NO_MODEL = {"exercise_allowed": False}


def _bank_question(world: Any) -> dict[str, Any]:
    return {"question_id": 999_999}  # a reflection bank question, not the grading question of the world


def _reflection_assignment(world: Any) -> dict[str, Any]:
    return {"assignment_id": 999_999}  # a reflection assignment, not the grading assignment of the world


def _distillation_run(world: Any) -> dict[str, Any]:
    return {"run_id": 999_999}  # no distillation run in the world


PLACEHOLDER = {"placeholder": True}

ROWS: dict[str, Row] = {
    # --- accounts ---
    "accounts:dashboard": Row(SIGNED_IN),
    "accounts:login": Row(PUBLIC),
    # Logging out redirects to the login page, which the matrix reads as a refusal: only anonymous is sent.
    "accounts:logout": _write(SIGNED_IN, **NO_MODEL),
    "accounts:password_change": Row(SIGNED_IN),
    "accounts:password_change_done": Row(SIGNED_IN),
    "accounts:course_detail": Row(COURSE),
    # --- core ---
    "core:job_detail": Row(JOB_OWNER),
    "core:job_cancel": _write(JOB_OWNER),
    "core:system": Row(ADMIN_ONLY),
    "core:system_check": _write(ADMIN_ONLY, **NO_MODEL),
    "core:health": Row(PUBLIC),
    "core:tutor_notices": Row(STUDENTS),
    # --- tutor ---
    "tutor:index": Row(SIGNED_IN),
    "tutor:start": _write(COURSE_STUDENT, **NO_MODEL),
    "tutor:assign": _write(COURSE_TEACHER),
    "tutor:import": _write(COURSE_TEACHER),
    "tutor:settings": _write(COURSE_TEACHER),
    "tutor:sessions": Row(SIGNED_IN),  # a student sees their own sessions
    "tutor:session": Row(COURSE),
    "tutor:message": _write(COURSE_STUDENT, **NO_MODEL),
    "tutor:end": _write(COURSE_STUDENT, **NO_MODEL),
    "tutor:stream": Row(COURSE, **NO_MODEL),  # a finished turn replays to the course's teachers too
    "tutor:flag": _write(COURSE_TEACHER),
    "tutor:dashboard": Row(TEACHERS),
    "tutor:model_train": _write(ADMIN_ONLY, **NO_MODEL),
    "tutor:export_sessions": Row(TEACHERS),
    "tutor:export_training": Row(TEACHERS),
    # --- grading ---
    "grading:index": Row(SIGNED_IN),
    "grading:answer_submit": _write(COURSE_STUDENT, **NO_MODEL),
    "grading:assignment_detail": Row(COURSE_TEACHER),
    "grading:grader_state": Row(COURSE_TEACHER),
    "grading:grader_first": _write(COURSE_TEACHER, **NO_MODEL),
    "grading:assignment_grade": _write(COURSE_TEACHER, **NO_MODEL),
    "grading:assignment_release": _write(COURSE_TEACHER),
    "grading:assignment_export": Row(COURSE_TEACHER),
    "grading:assignment_import": Row(COURSE_TEACHER, methods=("GET", "POST")),
    "grading:question_add": Row(COURSE_TEACHER, methods=("GET", "POST")),
    "grading:question_edit": Row(COURSE_TEACHER, methods=("GET", "POST")),
    "grading:review": Row(COURSE_TEACHER),
    "grading:group_accept": _write(COURSE_TEACHER),
    "grading:group_relabel": _write(COURSE_TEACHER),
    "grading:grade_accept": _write(COURSE_TEACHER),
    "grading:grade_override": _write(COURSE_TEACHER),
    "grading:grade_feedback": _write(COURSE_TEACHER),
    "grading:grade_rubric": _write(COURSE_TEACHER),
    "grading:grader_retrain": _write(ADMIN_ONLY, **NO_MODEL),
    # --- coaching ---
    "coaching:index": Row(TEACHERS),
    # --- datasets_admin (admins only; its objects are placeholders) ---
    "datasets_admin:index": Row(ADMIN_ONLY),
    "datasets_admin:upload": Row(ADMIN_ONLY, methods=("GET", "POST")),
    "datasets_admin:upload_detail": Row(ADMIN_ONLY, **PLACEHOLDER),
    "datasets_admin:course_detail": Row(ADMIN_ONLY, **PLACEHOLDER),
    "datasets_admin:lecture_detail": Row(ADMIN_ONLY, **PLACEHOLDER),
    "datasets_admin:comment_label": _write(ADMIN_ONLY, **PLACEHOLDER),
    "datasets_admin:classifier": Row(ADMIN_ONLY),
    "datasets_admin:classifier_retrain": _write(ADMIN_ONLY, **NO_MODEL),
    "datasets_admin:dataset_sync": _write(ADMIN_ONLY, **NO_MODEL),
    "datasets_admin:dataset_detail": Row(ADMIN_ONLY, **PLACEHOLDER),
    "datasets_admin:dataset_export": Row(ADMIN_ONLY, **PLACEHOLDER),
    # --- distillation (admins only; the run is a placeholder) ---
    "distillation:index": Row(ADMIN_ONLY),
    "distillation:run_detail": Row(ADMIN_ONLY, kwargs=_distillation_run, **PLACEHOLDER),
    "distillation:run_cancel": _write(ADMIN_ONLY, kwargs=_distillation_run, **PLACEHOLDER),
    "distillation:run_resume": _write(ADMIN_ONLY, kwargs=_distillation_run, **PLACEHOLDER),
    "distillation:run_promote": _write(ADMIN_ONLY, kwargs=_distillation_run, **PLACEHOLDER),
    # --- models_runtime ---
    "models_runtime:index": Row(ADMIN_ONLY),
    "models_runtime:activate": _write(ADMIN_ONLY, **NO_MODEL),
    "models_runtime:retire": _write(ADMIN_ONLY, **NO_MODEL),
    # --- added by the matrix's author from a probe of the refusals, to be refined by the apps' authors:
    # these objects are placeholders (the world builds no transcript, dialogue or bank question), so
    # they check that the wrong roles and anonymous are refused, not that the right people get in.
    "coaching:trends": Row(TEACHERS),
    "coaching:transcript_upload": _write(TEACHERS, **NO_MODEL),
    "coaching:transcript_detail": Row(TEACHERS, **PLACEHOLDER),
    "coaching:transcript_print": Row(TEACHERS, **PLACEHOLDER),
    "coaching:transcript_speakers": Row(TEACHERS, **PLACEHOLDER),
    "coaching:transcript_delete": _write(TEACHERS, **PLACEHOLDER, **NO_MODEL),
    "reflection:index": Row(TEACHERS),
    "reflection:bank": Row(TEACHERS),
    "reflection:bank_question": Row(TEACHERS, kwargs=_bank_question, **PLACEHOLDER),
    "reflection:bank_question_assign": _write(TEACHERS, kwargs=_bank_question, **PLACEHOLDER, **NO_MODEL),
    "reflection:bank_question_edit": _write(TEACHERS, kwargs=_bank_question, **PLACEHOLDER, **NO_MODEL),
    "reflection:dialogue": Row(TEACHERS, **PLACEHOLDER),
    "reflection:dialogue_save": _write(TEACHERS, **PLACEHOLDER, **NO_MODEL),
    "reflection:assigned": Row(STUDENTS),
    "reflection:assigned_answer": Row(STUDENTS, kwargs=_reflection_assignment, **PLACEHOLDER),
    "reflection:assignment_review": _write(TEACHERS, kwargs=_reflection_assignment, **PLACEHOLDER, **NO_MODEL),
    "grading:attention": Row(SIGNED_IN),
    "tutor:attention": Row(TEACHERS),
    "api-coaching-transcript-list": Row(TEACHERS, methods=("GET", "POST"), **NO_MODEL),
    "api-coaching-transcript-detail": Row(TEACHERS, **PLACEHOLDER),
    "api-coaching-transcript-report": Row(TEACHERS, **PLACEHOLDER),
    "api-coaching-transcript-speakers": _write(TEACHERS, **PLACEHOLDER, **NO_MODEL),
    "api-coaching-trends": Row(TEACHERS),
    "api-reflection-bank-list": Row(TEACHERS, methods=("GET", "POST"), **NO_MODEL),
    "api-reflection-bank-detail": Row(TEACHERS, methods=("GET", "PATCH"), kwargs=_bank_question, **PLACEHOLDER),
    "api-reflection-dialogue-list": Row(TEACHERS, methods=("GET", "POST"), **NO_MODEL),
    "api-reflection-dialogue-detail": Row(TEACHERS, **PLACEHOLDER),
    "api-reflection-assignment-list": Row(SIGNED_IN, methods=("GET", "POST"), **NO_MODEL),
    "api-reflection-answer-list": Row(
        SIGNED_IN, methods=("GET", "POST"), kwargs=_reflection_assignment, **PLACEHOLDER, **NO_MODEL
    ),
    "api-reflection-answer-review": _write(TEACHERS, kwargs=_reflection_assignment, **PLACEHOLDER, **NO_MODEL),
    "dataset-list": Row(ADMIN_ONLY),
    "dataset-course-list": Row(ADMIN_ONLY),
    "dataset-detail": Row(ADMIN_ONLY, **PLACEHOLDER),
    "dataset-rows": Row(ADMIN_ONLY, **PLACEHOLDER),
    "dataset-upload": _write(ADMIN_ONLY, **NO_MODEL),
    "dataset-comment-label": _write(ADMIN_ONLY, **PLACEHOLDER, **NO_MODEL),
    # --- privacy (admins only) ---
    "privacy:index": Row(ADMIN_ONLY),
    "privacy:student_export": Row(ADMIN_ONLY),
    "privacy:student_delete": _write(ADMIN_ONLY, **NO_MODEL),
    "privacy:audit": Row(ADMIN_ONLY),
    # --- the Django admin (its own staff check; the index stands for the namespace) ---
    "admin:index": Row(ADMIN_ONLY),
    # --- API ---
    "api-schema": Row(PUBLIC),
    "api-docs": Row(PUBLIC),
    "api-redoc": Row(PUBLIC),
    "api-token": _write(PUBLIC),
    "api-logout": _write(SIGNED_IN),
    "api-me": Row(SIGNED_IN),
    "api-course-list": Row(SIGNED_IN),
    "api-course-detail": Row(COURSE),
    "api-course-students": Row(COURSE_TEACHER, methods=("GET", "POST")),
    "api-course-student-delete": Row(COURSE_TEACHER, methods=("DELETE",), **NO_MODEL),
    "api-job-detail": Row(JOB_OWNER),
    "api-job-cancel": _write(JOB_OWNER),
    "api-system-check": _write(ADMIN_ONLY, **NO_MODEL),
    "api-tutor-problems": Row(SIGNED_IN),
    "api-tutor-sessions": Row(SIGNED_IN, methods=("GET", "POST"), **NO_MODEL),
    "api-tutor-session": Row(COURSE),
    "api-tutor-messages": _write(COURSE_STUDENT, data={"text": "Is it 10?"}, **NO_MODEL),
    "api-tutor-turn-stream": Row(COURSE, **NO_MODEL),
    "api-tutor-turn-flag": _write(COURSE_TEACHER),
    "api-grading-assignment-list": Row(SIGNED_IN),
    "api-grading-assignment-detail": Row(COURSE),
    "api-grading-assignment-grade": _write(COURSE_TEACHER, **NO_MODEL),
    "api-grading-assignment-release": _write(COURSE_TEACHER),
    "api-grading-assignment-grades": Row(COURSE_TEACHER),
    "api-grading-grade-accept": _write(COURSE_TEACHER),
    "api-grading-grade-override": _write(COURSE_TEACHER),
    "api-grading-grades-released": Row(STUDENTS),
    "api-grading-submission-list": Row(STUDENTS),
    "api-grading-submission-create": _write(STUDENTS, **NO_MODEL),
}
