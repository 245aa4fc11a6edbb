"""Reads for reflection questions, filtered by who asks: teachers see their courses' dialogues, bank
and answers; students see the questions assigned to their courses and their own answers."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet

from accounts.models import Role
from accounts.permissions import TEACHING_ROLES, queryset_visible, user_role
from coaching.reflection.models import Answer, BankQuestion, Dialogue, QuestionAssignment
from core.errors import NotFoundError


def dialogue_list_for_user(*, user: Any) -> QuerySet[Dialogue]:
    if user_role(user) not in TEACHING_ROLES:
        return Dialogue.objects.none()
    dialogues = Dialogue.objects.select_related("course", "created_by")
    return queryset_visible(dialogues, user=user, course_path="course").order_by("-created_at", "-pk")


def dialogue_get_for_user(*, user: Any, dialogue_id: Any) -> Dialogue:
    try:
        return dialogue_list_for_user(user=user).prefetch_related("rounds").select_related("job").get(pk=dialogue_id)
    except (Dialogue.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such dialogue.") from error


def bank_question_list_for_user(*, user: Any, course_id: Any = None) -> QuerySet[BankQuestion]:
    if user_role(user) not in TEACHING_ROLES:
        return BankQuestion.objects.none()
    questions = queryset_visible(
        BankQuestion.objects.select_related("course", "dialogue").annotate(assignment_count=Count("assignments")),
        user=user,
        course_path="course",
    )
    if course_id is not None:
        questions = questions.filter(course_id=course_id)
    return questions.order_by("-created_at", "-pk")


def bank_question_get_for_user(*, user: Any, question_id: Any) -> BankQuestion:
    try:
        return bank_question_list_for_user(user=user).get(pk=question_id)
    except (BankQuestion.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such question in your question banks.") from error


def assignment_list_for_user(*, user: Any) -> QuerySet[QuestionAssignment]:
    """Teachers: their courses' assignments with answer counts. Students: their courses' assignments,
    each with only the student's own answer prefetched (`my_answers`)."""
    assignments = QuestionAssignment.objects.select_related("question", "course")
    visible = queryset_visible(assignments, user=user, course_path="course").order_by("due_at", "pk")
    if user_role(user) == Role.STUDENT:
        return visible.prefetch_related(
            Prefetch("answers", queryset=Answer.objects.filter(student=user), to_attr="my_answers")
        )
    return visible.annotate(answer_count=Count("answers"))


def assignment_get_for_user(*, user: Any, assignment_id: Any) -> QuestionAssignment:
    try:
        return assignment_list_for_user(user=user).get(pk=assignment_id)
    except (QuestionAssignment.DoesNotExist, ValueError, TypeError) as error:
        raise NotFoundError("No such assigned question.") from error


def answer_list_for_assignment(*, user: Any, assignment: QuestionAssignment) -> QuerySet[Answer]:
    """Teachers read every answer; a student reads only their own."""
    answers = Answer.objects.filter(assignment=assignment).select_related("student")
    if user_role(user) == Role.STUDENT:
        return answers.filter(student=user)
    if user_role(user) in TEACHING_ROLES:
        return answers
    return answers.none()


def preference_pairs() -> list[dict[str, Any]]:
    """Training examples for distillation: the teacher's saved (edited) question is preferred, the
    dialogue's first draft rejected; with the form, the rating and the provenance of both."""
    pairs = []
    questions = BankQuestion.objects.select_related("dialogue").prefetch_related("dialogue__rounds")
    for question in questions.filter(dialogue__isnull=False):
        dialogue = question.dialogue
        assert dialogue is not None
        rounds = list(dialogue.rounds.all())
        first = next((item for item in rounds if item.draft), None)
        if first is None or first.draft.strip() == question.text.strip():
            continue
        pairs.append(
            {
                "topic": dialogue.topic,
                "concepts": dialogue.concepts,
                "level": dialogue.level,
                "preferred": question.text,
                "rejected": first.draft,
                "rating": question.rating,
                "is_edited": question.is_edited,
                "provenance": {"dialogue": dialogue.provenance, "rejected": first.provenance},
            }
        )
    return pairs
