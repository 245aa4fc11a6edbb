from __future__ import annotations

from django.contrib import admin

from grading.models import Assignment, Question, Submission


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 0


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "created_at")
    list_filter = ("course",)
    search_fields = ("title",)
    inlines = (QuestionInline,)


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "assignment", "position", "max_points")
    list_filter = ("assignment__course",)
    search_fields = ("text",)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("student", "question", "is_current", "submitted_at")
    list_filter = ("is_current", "question__assignment")
    search_fields = ("student__username", "answer_text")
    list_select_related = ("student", "question")
